package io.wattlab.trainer.data.medmnist;

import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetException;
import io.wattlab.trainer.data.ImageSet;
import io.wattlab.trainer.data.ImageShape;
import io.wattlab.trainer.data.LoadReport;
import io.wattlab.trainer.data.MissingDatasetFileException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Reads a MedMNIST {@code .npz} file (such as {@code pathmnist.npz} or {@code bloodmnist_64.npz}): a
 * zip of {@code .npy} arrays named {@code train_images}, {@code train_labels}, {@code val_*} and
 * {@code test_*}. Images are unsigned bytes, N×H×W (grayscale) or N×H×W×3 (RGB, stored channels
 * last and turned to CHW here); labels are N×1 class indices. Multi-label sets (N×k labels, as in
 * ChestMNIST) and 3-D volumes are refused.
 */
public final class MedMnistLoader {

    private MedMnistLoader() {
    }

    /**
     * @param file    the .npz file
     * @param classes number of classes; 0 to take the largest label seen plus one
     */
    public static Dataset open(Path file, int classes) throws DatasetException {
        if (!Files.isRegularFile(file)) {
            throw new MissingDatasetFileException("MedMNIST file " + file + (Files.isDirectory(file)
                    ? " is a directory; give the path of the .npz file" : " does not exist"));
        }
        ImageSet train;
        ImageSet test;
        List<String> notes = new ArrayList<>();
        try (ZipFile zip = new ZipFile(file.toFile())) {
            train = readSplit(zip, file, "train");
            test = readSplit(zip, file, "test");
            ZipEntry val = entry(zip, "val_labels");
            if (val != null) {
                notes.add("the val split is not used: training reads train_*, evaluation test_*");
            }
        } catch (IOException e) {
            throw new DatasetException(file + ": not a readable .npz (zip) file (" + e.getMessage() + ")", e);
        }
        if (!train.shape().equals(test.shape())) {
            throw new DatasetException(file + ": train images are " + train.shape() + " but test images are " + test.shape());
        }
        int bound = Math.max(train.labelBound(), test.labelBound());
        if (classes > 0 && bound > classes) {
            throw new DatasetException(file + ": labels go up to " + (bound - 1) + " but classes is set to " + classes);
        }
        int count = classes > 0 ? classes : bound;
        if (count == 0) {
            throw new DatasetException(file + ": holds no labelled images");
        }
        List<String> names = new ArrayList<>();
        for (int c = 0; c < count; c++) {
            names.add(Integer.toString(c));
        }
        String name = file.getFileName().toString().replaceFirst("(?i)\\.npz$", "").toLowerCase(Locale.ROOT);
        return Dataset.of(name, names, train, test, new LoadReport(List.of(), notes));
    }

    private static ImageSet readSplit(ZipFile zip, Path file, String split) throws DatasetException, IOException {
        NpyArray images = array(zip, file, split + "_images");
        NpyArray labels = array(zip, file, split + "_labels");
        if (!images.dtype().equals("|u1")) {
            throw new DatasetException(file + ": " + split + "_images has dtype " + images.dtype()
                    + ", expected |u1 (unsigned bytes)");
        }
        long[] s = images.shape();
        ImageShape shape;
        if (s.length == 3) {
            shape = new ImageShape(1, (int) s[1], (int) s[2]);
        } else if (s.length == 4 && s[3] == 3) {
            shape = new ImageShape(3, (int) s[1], (int) s[2]);
        } else {
            throw new DatasetException(file + ": " + split + "_images has shape " + Arrays.toString(s)
                    + ", expected N×H×W or N×H×W×3 (3-D volumes are not supported)");
        }
        long[] ls = labels.shape();
        boolean column = ls.length == 2 && ls[1] == 1;
        if (!(column || ls.length == 1) || ls[0] != s[0]) {
            throw new DatasetException(file + ": " + split + "_labels has shape " + Arrays.toString(ls)
                    + ", expected " + s[0] + "×1 to match " + split + "_images"
                    + (ls.length == 2 && ls[1] > 1 ? " (multi-label sets are not supported)" : ""));
        }
        int[] labelInts;
        try {
            labelInts = labels.toLabelInts();
        } catch (NpyArray.FormatException e) {
            throw new DatasetException(file + ": " + split + "_labels " + e.getMessage(), e);
        }
        byte[] pixels = images.data();
        if (shape.channels() == 3) {
            pixels = channelsFirst(pixels, (int) s[0], shape);
        }
        return new ImageSet(shape, pixels, labelInts);
    }

    // N×H×W×C to N×C×H×W.
    private static byte[] channelsFirst(byte[] hwc, int count, ImageShape shape) {
        byte[] chw = new byte[hwc.length];
        int plane = shape.planeLength();
        int channels = shape.channels();
        for (int n = 0; n < count; n++) {
            int base = n * shape.length();
            for (int p = 0; p < plane; p++) {
                for (int c = 0; c < channels; c++) {
                    chw[base + c * plane + p] = hwc[base + p * channels + c];
                }
            }
        }
        return chw;
    }

    private static NpyArray array(ZipFile zip, Path file, String key) throws DatasetException, IOException {
        ZipEntry entry = entry(zip, key);
        if (entry == null) {
            throw new MissingDatasetFileException(file + ": no array '" + key + "' (MedMNIST files hold train_images, "
                    + "train_labels, val_images, val_labels, test_images, test_labels)");
        }
        try (InputStream in = zip.getInputStream(entry)) {
            return NpyArray.read(in);
        } catch (NpyArray.FormatException e) {
            throw new DatasetException(file + ": array '" + key + "' " + e.getMessage(), e);
        } catch (java.io.EOFException | java.util.zip.ZipException e) {
            throw new DatasetException(file + ": array '" + key + "' is corrupt or truncated (" + e.getMessage() + ")", e);
        }
    }

    // numpy.savez names each member "<key>.npy".
    private static ZipEntry entry(ZipFile zip, String key) {
        ZipEntry entry = zip.getEntry(key + ".npy");
        return entry != null ? entry : zip.getEntry(key);
    }
}
