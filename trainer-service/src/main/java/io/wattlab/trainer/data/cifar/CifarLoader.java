package io.wattlab.trainer.data.cifar;

import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetException;
import io.wattlab.trainer.data.DatasetFiles;
import io.wattlab.trainer.data.ImageSet;
import io.wattlab.trainer.data.ImageShape;
import io.wattlab.trainer.data.LoadReport;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads CIFAR-10 and CIFAR-100 in their binary versions ({@code cifar-10-batches-bin},
 * {@code cifar-100-binary}). Each record is the label byte(s), then 3072 pixel bytes: the 1024 red
 * values of the 32×32 image row by row, then green, then blue, which is already CHW order.
 * CIFAR-10: one label byte, files {@code data_batch_1.bin} to {@code data_batch_5.bin} and
 * {@code test_batch.bin}. CIFAR-100: a coarse (superclass) then a fine label byte, files
 * {@code train.bin} and {@code test.bin}.
 */
public final class CifarLoader {

    public static final ImageShape SHAPE = new ImageShape(3, 32, 32);
    private static final int TRAIN_BATCHES = 5;

    /** Which of CIFAR-100's two labels to train on. */
    public enum Labels {
        /** The 100 classes. */
        FINE,
        /** The 20 superclasses. */
        COARSE
    }

    private CifarLoader() {
    }

    /**
     * @param path the {@code cifar-10-batches-bin} directory, or the directory that holds it
     */
    public static Dataset openCifar10(Path path) throws DatasetException {
        Path dir = locate(path, "cifar10", "data_batch_1.bin", "cifar-10-batches-bin");
        List<ImageSet> parts = new ArrayList<>();
        for (int i = 1; i <= TRAIN_BATCHES; i++) {
            Path file = DatasetFiles.find(dir, "CIFAR-10 training batch " + i, List.of("data_batch_" + i + ".bin"));
            parts.add(read(file, 1, 0, CifarClasses.CIFAR10.size(), "CIFAR-10"));
        }
        ImageSet train = ImageSet.concat(parts);
        ImageSet test = read(DatasetFiles.find(dir, "CIFAR-10 test batch", List.of("test_batch.bin")),
                1, 0, CifarClasses.CIFAR10.size(), "CIFAR-10");
        List<String> names = namesFile(dir.resolve("batches.meta.txt"), CifarClasses.CIFAR10);
        return Dataset.of("cifar10", names, train, test, LoadReport.empty());
    }

    /**
     * @param path   the {@code cifar-100-binary} directory, or the directory that holds it
     * @param labels fine (100 classes) or coarse (20 superclasses)
     */
    public static Dataset openCifar100(Path path, Labels labels) throws DatasetException {
        Path dir = locate(path, "cifar100", "train.bin", "cifar-100-binary");
        boolean fine = labels == Labels.FINE;
        List<String> defaults = fine ? CifarClasses.CIFAR100_FINE : CifarClasses.CIFAR100_COARSE;
        int offset = fine ? 1 : 0;
        ImageSet train = read(DatasetFiles.find(dir, "CIFAR-100 training set", List.of("train.bin")),
                2, offset, defaults.size(), "CIFAR-100");
        ImageSet test = read(DatasetFiles.find(dir, "CIFAR-100 test set", List.of("test.bin")),
                2, offset, defaults.size(), "CIFAR-100");
        List<String> names = namesFile(dir.resolve(fine ? "fine_label_names.txt" : "coarse_label_names.txt"), defaults);
        String name = fine ? "cifar100" : "cifar100-coarse";
        return Dataset.of(name, names, train, test,
                LoadReport.ofNotes("labels: " + (fine ? "fine (100 classes)" : "coarse (20 superclasses)")));
    }

    /**
     * Reads one CIFAR binary file.
     *
     * @param labelBytes  label bytes before each image: 1 for CIFAR-10, 2 for CIFAR-100
     * @param labelOffset which of them to use
     * @param classes     labels must be below this
     */
    static ImageSet read(Path file, int labelBytes, int labelOffset, int classes, String format) throws DatasetException {
        byte[] bytes = DatasetFiles.readAll(file);
        int record = labelBytes + SHAPE.length();
        if (bytes.length == 0 || bytes.length % record != 0) {
            throw new DatasetException(file + ": " + bytes.length + " bytes is not a whole number of " + record
                    + "-byte " + format + " records (" + labelBytes + " label byte" + (labelBytes > 1 ? "s" : "")
                    + " + " + SHAPE.length() + " pixel bytes each); the file is truncated or not " + format + " binary");
        }
        int count = bytes.length / record;
        byte[] pixels = new byte[count * SHAPE.length()];
        int[] labels = new int[count];
        for (int i = 0; i < count; i++) {
            int at = i * record;
            int label = bytes[at + labelOffset] & 0xff;
            if (label >= classes) {
                throw new DatasetException(file + ": record " + i + " has label " + label + ", but " + format
                        + " labels are 0.." + (classes - 1) + "; the file is not " + format + " binary");
            }
            labels[i] = label;
            System.arraycopy(bytes, at + labelBytes, pixels, i * SHAPE.length(), SHAPE.length());
        }
        return new ImageSet(SHAPE, pixels, labels);
    }

    private static Path locate(Path path, String format, String marker, String subdir) throws DatasetException {
        DatasetFiles.requireDirectory(path, format);
        if (!Files.exists(path.resolve(marker)) && Files.isDirectory(path.resolve(subdir))) {
            return path.resolve(subdir);
        }
        return path;
    }

    // The archives ship the class names one per line; use them where present.
    private static List<String> namesFile(Path file, List<String> defaults) throws DatasetException {
        if (!Files.isRegularFile(file)) {
            return defaults;
        }
        try {
            List<String> names = Files.readAllLines(file, StandardCharsets.UTF_8).stream()
                    .map(String::strip).filter(line -> !line.isEmpty()).toList();
            if (names.size() != defaults.size()) {
                throw new DatasetException(file + ": " + names.size() + " class names, expected " + defaults.size());
            }
            return names;
        } catch (IOException e) {
            throw new DatasetException(file + ": could not read class names (" + e.getMessage() + ")", e);
        }
    }
}
