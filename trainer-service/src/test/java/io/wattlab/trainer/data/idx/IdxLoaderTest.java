package io.wattlab.trainer.data.idx;

import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetException;
import io.wattlab.trainer.data.DatasetSpec;
import io.wattlab.trainer.data.Datasets;
import io.wattlab.trainer.data.ImageShape;
import io.wattlab.trainer.data.MissingDatasetFileException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static io.wattlab.trainer.data.FormatWriters.freshDirectory;
import static io.wattlab.trainer.data.FormatWriters.gzip;
import static io.wattlab.trainer.data.FormatWriters.idxImages;
import static io.wattlab.trainer.data.FormatWriters.idxLabels;
import static io.wattlab.trainer.data.FormatWriters.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IdxLoaderTest {

    private static final int ROWS = 4;
    private static final int COLUMNS = 3;

    /** {@code count} images whose pixel p of image i is 20·i + p. */
    private static byte[] pixels(int count) {
        byte[] pixels = new byte[count * ROWS * COLUMNS];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (byte) (20 * (i / (ROWS * COLUMNS)) + i % (ROWS * COLUMNS));
        }
        return pixels;
    }

    private static Path mnist(boolean gzipped) throws IOException {
        Path dir = freshDirectory("mnist-");
        String suffix = gzipped ? ".gz" : "";
        byte[] trainImages = idxImages(IdxLoader.IMAGES_MAGIC, 3, ROWS, COLUMNS, pixels(3));
        byte[] trainLabels = idxLabels(IdxLoader.LABELS_MAGIC, new int[] {5, 0, 9});
        byte[] testImages = idxImages(IdxLoader.IMAGES_MAGIC, 2, ROWS, COLUMNS, pixels(2));
        byte[] testLabels = idxLabels(IdxLoader.LABELS_MAGIC, new int[] {7, 1});
        write(dir.resolve("train-images-idx3-ubyte" + suffix), gzipped ? gzip(trainImages) : trainImages);
        write(dir.resolve("train-labels-idx1-ubyte" + suffix), gzipped ? gzip(trainLabels) : trainLabels);
        write(dir.resolve("t10k-images-idx3-ubyte" + suffix), gzipped ? gzip(testImages) : testImages);
        write(dir.resolve("t10k-labels-idx1-ubyte" + suffix), gzipped ? gzip(testLabels) : testLabels);
        return dir;
    }

    private static void checkContents(Dataset dataset) {
        assertEquals(new ImageShape(1, ROWS, COLUMNS), dataset.imageShape());
        assertEquals(3, dataset.train().size());
        assertEquals(2, dataset.test().size());
        assertEquals(9, dataset.train().label(2));
        assertEquals(1, dataset.test().label(1));
        float[] image = new float[ROWS * COLUMNS];
        dataset.train().fill(new int[] {2}, image, new long[1], 0);
        for (int p = 0; p < image.length; p++) {
            assertEquals((40 + p) / 255f, image[p], 1e-7f);
        }
    }

    @Test
    void readsPlainIdxFiles() throws Exception {
        Dataset dataset = Datasets.open(DatasetSpec.of("mnist", mnist(false)));
        assertEquals("mnist", dataset.name());
        assertEquals("7", dataset.classNames().get(7));
        checkContents(dataset);
    }

    @Test
    void readsGzippedIdxFilesAsFashionMnist() throws Exception {
        Dataset dataset = Datasets.open(DatasetSpec.of("fashion-mnist", mnist(true)));
        assertEquals("fashion-mnist", dataset.name());
        assertEquals("Ankle boot", dataset.classNames().get(9));
        checkContents(dataset);
    }

    @Test
    void labelsGivenForImagesAreCaughtByTheirMagicNumber() throws Exception {
        Path dir = mnist(true);
        Files.copy(dir.resolve("train-labels-idx1-ubyte.gz"), dir.resolve("train-images-idx3-ubyte.gz"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        DatasetException error = assertThrows(DatasetException.class, () -> Datasets.open(DatasetSpec.of("mnist", dir)));
        assertTrue(error.getMessage().contains("train-images-idx3-ubyte.gz: magic number 2049 (a label file), expected 2051"),
                error.getMessage());
    }

    @Test
    void aWrongLabelMagicIsNamed() throws Exception {
        Path dir = mnist(false);
        write(dir.resolve("t10k-labels-idx1-ubyte"), idxLabels(0x0801_0000, new int[] {7, 1}));
        DatasetException error = assertThrows(DatasetException.class, () -> Datasets.open(DatasetSpec.of("mnist", dir)));
        assertTrue(error.getMessage().contains("t10k-labels-idx1-ubyte: magic number " + 0x0801_0000 + ", expected 2049"),
                error.getMessage());
    }

    @Test
    void truncatedImagesAreReportedWithWhatTheHeaderPromised() throws Exception {
        Path dir = mnist(false);
        byte[] whole = Files.readAllBytes(dir.resolve("train-images-idx3-ubyte"));
        write(dir.resolve("train-images-idx3-ubyte"), Arrays.copyOf(whole, whole.length - 5));
        DatasetException error = assertThrows(DatasetException.class, () -> Datasets.open(DatasetSpec.of("mnist", dir)));
        assertTrue(error.getMessage().contains("train-images-idx3-ubyte: header promises 3 images of 4×3 = 36 pixel bytes, "
                + "but the file holds 31 (truncated)"), error.getMessage());
    }

    @Test
    void aTruncatedGzipIsReportedAsSuch() throws Exception {
        Path dir = mnist(true);
        byte[] whole = Files.readAllBytes(dir.resolve("t10k-images-idx3-ubyte.gz"));
        write(dir.resolve("t10k-images-idx3-ubyte.gz"), Arrays.copyOf(whole, whole.length / 2));
        DatasetException error = assertThrows(DatasetException.class, () -> Datasets.open(DatasetSpec.of("mnist", dir)));
        assertTrue(error.getMessage().contains("t10k-images-idx3-ubyte.gz") && error.getMessage().contains("truncated"),
                error.getMessage());
    }

    @Test
    void countsOfImagesAndLabelsMustAgree() throws Exception {
        Path dir = mnist(false);
        write(dir.resolve("train-labels-idx1-ubyte"), idxLabels(IdxLoader.LABELS_MAGIC, new int[] {5, 0}));
        DatasetException error = assertThrows(DatasetException.class, () -> Datasets.open(DatasetSpec.of("mnist", dir)));
        assertTrue(error.getMessage().contains("train-images-idx3-ubyte holds 3 images but train-labels-idx1-ubyte holds 2 labels"),
                error.getMessage());
    }

    @Test
    void aMissingFileIsNamedWithTheNamesTried() throws Exception {
        Path dir = mnist(false);
        Files.delete(dir.resolve("t10k-labels-idx1-ubyte"));
        MissingDatasetFileException error = assertThrows(MissingDatasetFileException.class,
                () -> Datasets.open(DatasetSpec.of("mnist", dir)));
        assertTrue(error.getMessage().contains("in " + dir) && error.getMessage().contains("t10k-labels-idx1-ubyte.gz"),
                error.getMessage());
    }
}
