package io.wattlab.trainer.data.idx;

import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetException;
import io.wattlab.trainer.data.DatasetFiles;
import io.wattlab.trainer.data.ImageSet;
import io.wattlab.trainer.data.ImageShape;
import io.wattlab.trainer.data.LoadReport;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

/**
 * Reads MNIST-style datasets (MNIST, Fashion-MNIST) from IDX files, gzipped or not: images with
 * magic number 2051 (unsigned bytes, three dimensions: count, rows, columns), labels with magic
 * number 2049 (unsigned bytes, one dimension: count), all integers big-endian. Training files are
 * {@code train-images-idx3-ubyte} and {@code train-labels-idx1-ubyte}, test files {@code t10k-*}.
 */
public final class IdxLoader {

    /** Magic number of an IDX file of unsigned bytes in three dimensions (0x00000803). */
    public static final int IMAGES_MAGIC = 2051;
    /** Magic number of an IDX file of unsigned bytes in one dimension (0x00000801). */
    public static final int LABELS_MAGIC = 2049;

    /** MNIST's classes are its digits. */
    public static final List<String> MNIST_CLASSES = List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");

    /** Fashion-MNIST's classes, as its README lists them. */
    public static final List<String> FASHION_MNIST_CLASSES = List.of(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

    private IdxLoader() {
    }

    /**
     * @param dir        the directory holding the four files
     * @param name       the dataset's name, such as {@code mnist}
     * @param classNames one per label value
     */
    public static Dataset open(Path dir, String name, List<String> classNames) throws DatasetException {
        DatasetFiles.requireDirectory(dir, name);
        ImageSet train = readPair(dir, "train", name, classNames.size());
        ImageSet test = readPair(dir, "t10k", name, classNames.size());
        if (!train.shape().equals(test.shape())) {
            throw new DatasetException(dir + ": training images are " + train.shape().height() + "×"
                    + train.shape().width() + " but test images are " + test.shape().height() + "×" + test.shape().width());
        }
        return Dataset.of(name, classNames, train, test, LoadReport.empty());
    }

    private static ImageSet readPair(Path dir, String prefix, String name, int classes) throws DatasetException {
        Path imagesFile = DatasetFiles.find(dir, name + " " + prefix + " images", candidates(prefix + "-images", "idx3-ubyte"));
        Path labelsFile = DatasetFiles.find(dir, name + " " + prefix + " labels", candidates(prefix + "-labels", "idx1-ubyte"));
        Images images = readImages(imagesFile);
        int[] labels = readLabels(labelsFile, classes);
        if (labels.length != images.count()) {
            throw new DatasetException(imagesFile.getFileName() + " holds " + images.count() + " images but "
                    + labelsFile.getFileName() + " holds " + labels.length + " labels (in " + dir + ")");
        }
        return new ImageSet(new ImageShape(1, images.rows(), images.columns()), images.pixels(), labels);
    }

    // The files are published as "train-images-idx3-ubyte"; some mirrors unpack them as "train-images.idx3-ubyte".
    private static List<String> candidates(String stem, String kind) {
        return List.of(stem + "-" + kind, stem + "-" + kind + ".gz", stem + "." + kind, stem + "." + kind + ".gz");
    }

    /** The pixels of an IDX image file, image after image, row by row. */
    record Images(int count, int rows, int columns, byte[] pixels) {
    }

    static Images readImages(Path file) throws DatasetException {
        ByteBuffer data = ByteBuffer.wrap(DatasetFiles.readMaybeGzipped(file));
        requireHeader(file, data, 4, "image");
        int magic = data.getInt();
        if (magic != IMAGES_MAGIC) {
            throw new DatasetException(file + ": magic number " + magic + describe(magic) + ", expected "
                    + IMAGES_MAGIC + " (IDX unsigned-byte images, 3 dimensions)");
        }
        requireHeader(file, data, 12, "image");
        int count = data.getInt();
        int rows = data.getInt();
        int columns = data.getInt();
        if (count < 0 || rows <= 0 || columns <= 0) {
            throw new DatasetException(file + ": header gives " + count + " images of " + rows + "×" + columns);
        }
        long expected = (long) count * rows * columns;
        if (data.remaining() != expected) {
            throw new DatasetException(file + ": header promises " + count + " images of " + rows + "×" + columns
                    + " = " + expected + " pixel bytes, but the file holds " + data.remaining()
                    + (data.remaining() < expected ? " (truncated)" : ""));
        }
        byte[] pixels = new byte[(int) expected];
        data.get(pixels);
        return new Images(count, rows, columns, pixels);
    }

    static int[] readLabels(Path file, int classes) throws DatasetException {
        ByteBuffer data = ByteBuffer.wrap(DatasetFiles.readMaybeGzipped(file));
        requireHeader(file, data, 4, "label");
        int magic = data.getInt();
        if (magic != LABELS_MAGIC) {
            throw new DatasetException(file + ": magic number " + magic + describe(magic) + ", expected "
                    + LABELS_MAGIC + " (IDX unsigned-byte labels, 1 dimension)");
        }
        requireHeader(file, data, 4, "label");
        int count = data.getInt();
        if (count < 0 || data.remaining() != count) {
            throw new DatasetException(file + ": header promises " + count + " labels, but the file holds "
                    + data.remaining() + " bytes after it" + (data.remaining() < count ? " (truncated)" : ""));
        }
        int[] labels = new int[count];
        for (int i = 0; i < count; i++) {
            labels[i] = data.get() & 0xff;
            if (labels[i] >= classes) {
                throw new DatasetException(file + ": label " + i + " is " + labels[i] + ", but there are only "
                        + classes + " classes");
            }
        }
        return labels;
    }

    // The magic number is checked before the rest of the header, so a label file given for images
    // is named as such rather than as a short header.
    private static void requireHeader(Path file, ByteBuffer data, int bytes, String kind) throws DatasetException {
        if (data.remaining() < bytes) {
            int header = kind.equals("image") ? 16 : 8;
            throw new DatasetException(file + ": " + data.limit() + " bytes is shorter than the " + header
                    + "-byte header of an IDX " + kind + " file (truncated or empty)");
        }
    }

    // Names the likely mix-up: labels given for images or the other way round.
    private static String describe(int magic) {
        if (magic == IMAGES_MAGIC) {
            return " (an image file)";
        }
        if (magic == LABELS_MAGIC) {
            return " (a label file)";
        }
        return "";
    }
}
