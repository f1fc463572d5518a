package io.wattlab.trainer.data.medmnist;

import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetException;
import io.wattlab.trainer.data.DatasetSpec;
import io.wattlab.trainer.data.Datasets;
import io.wattlab.trainer.data.ImageShape;
import io.wattlab.trainer.data.MissingDatasetFileException;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static io.wattlab.trainer.data.FormatWriters.freshDirectory;
import static io.wattlab.trainer.data.FormatWriters.npy;
import static io.wattlab.trainer.data.FormatWriters.npz;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MedMnistLoaderTest {

    /** Bytes 0, 1, 2, ... (mod 256) for {@code count} values, offset by {@code start}. */
    private static byte[] ramp(int count, int start) {
        byte[] bytes = new byte[count];
        for (int i = 0; i < count; i++) {
            bytes[i] = (byte) (start + i);
        }
        return bytes;
    }

    private static byte[] u1(long[] shape, byte[] data) {
        return npy("|u1", false, shape, data);
    }

    private static Map<String, byte[]> arrays(long[] trainShape, long[] testShape, byte[] trainLabels, byte[] testLabels) {
        Map<String, byte[]> arrays = new LinkedHashMap<>();
        int trainValues = (int) Arrays.stream(trainShape).reduce(1, (a, b) -> a * b);
        int testValues = (int) Arrays.stream(testShape).reduce(1, (a, b) -> a * b);
        arrays.put("train_images", u1(trainShape, ramp(trainValues, 0)));
        arrays.put("train_labels", u1(new long[] {trainShape[0], 1}, trainLabels));
        arrays.put("val_images", u1(testShape, ramp(testValues, 7)));
        arrays.put("val_labels", u1(new long[] {testShape[0], 1}, testLabels));
        arrays.put("test_images", u1(testShape, ramp(testValues, 100)));
        arrays.put("test_labels", u1(new long[] {testShape[0], 1}, testLabels));
        return arrays;
    }

    @Test
    void readsGrayscaleImagesFromAStoredNpz() throws Exception {
        Path file = npz(freshDirectory("medmnist-").resolve("pneumoniamnist.npz"),
                arrays(new long[] {3, 2, 2}, new long[] {2, 2, 2}, new byte[] {1, 0, 1}, new byte[] {0, 1}), false);
        Dataset dataset = Datasets.open(DatasetSpec.of("medmnist", file));
        assertEquals("pneumoniamnist", dataset.name());
        assertEquals(new ImageShape(1, 2, 2), dataset.imageShape());
        assertEquals(2, dataset.numClasses());
        assertEquals(3, dataset.train().size());
        assertEquals(2, dataset.test().size());
        float[] images = new float[8];
        long[] labels = new long[2];
        dataset.test().fill(new int[] {1, 0}, images, labels, 0);
        assertArrayEquals(new long[] {1, 0}, labels);
        assertEquals(104 / 255f, images[0], 1e-7f);
        assertEquals(100 / 255f, images[4], 1e-7f);
        assertTrue(dataset.report().notes().get(0).contains("val split is not used"));
    }

    @Test
    void turnsChannelsLastRgbIntoChannelsFirstFromACompressedNpz() throws Exception {
        // One 2×2 RGB training image stored HWC: pixel k has (R, G, B) = (3k, 3k + 1, 3k + 2).
        Path file = npz(freshDirectory("medmnist-").resolve("bloodmnist.npz"),
                arrays(new long[] {1, 2, 2, 3}, new long[] {1, 2, 2, 3}, new byte[] {7}, new byte[] {2}), true);
        Dataset dataset = Datasets.open(DatasetSpec.of("medmnist", file));
        assertEquals(new ImageShape(3, 2, 2), dataset.imageShape());
        assertEquals(8, dataset.numClasses());
        float[] image = new float[12];
        dataset.train().fill(new int[] {0}, image, new long[1], 0);
        float[] expected = new float[12];
        for (int k = 0; k < 4; k++) {
            for (int c = 0; c < 3; c++) {
                expected[c * 4 + k] = (3 * k + c) / 255f;
            }
        }
        assertArrayEquals(expected, image, 1e-7f);

        Dataset wider = Datasets.open(DatasetSpec.of("medmnist", file).with("classes", "9"));
        assertEquals(9, wider.numClasses());
        DatasetException tooFew = assertThrows(DatasetException.class,
                () -> Datasets.open(DatasetSpec.of("medmnist", file).with("classes", "5")));
        assertTrue(tooFew.getMessage().contains("labels go up to 7 but classes is set to 5"), tooFew.getMessage());
    }

    @Test
    void multiLabelSetsAreRefusedByName() throws Exception {
        Map<String, byte[]> arrays = arrays(new long[] {2, 2, 2}, new long[] {1, 2, 2}, new byte[] {0, 1}, new byte[] {0});
        arrays.put("train_labels", u1(new long[] {2, 14}, new byte[28]));
        Path file = npz(freshDirectory("medmnist-").resolve("chestmnist.npz"), arrays, true);
        DatasetException error = assertThrows(DatasetException.class, () -> Datasets.open(DatasetSpec.of("medmnist", file)));
        assertTrue(error.getMessage().contains("train_labels has shape [2, 14]")
                && error.getMessage().contains("multi-label"), error.getMessage());
    }

    @Test
    void aMissingArrayIsNamed() throws Exception {
        Map<String, byte[]> arrays = arrays(new long[] {2, 2, 2}, new long[] {1, 2, 2}, new byte[] {0, 1}, new byte[] {0});
        arrays.remove("test_images");
        Path file = npz(freshDirectory("medmnist-").resolve("x.npz"), arrays, false);
        MissingDatasetFileException error = assertThrows(MissingDatasetFileException.class,
                () -> Datasets.open(DatasetSpec.of("medmnist", file)));
        assertTrue(error.getMessage().contains("no array 'test_images'"), error.getMessage());
    }

    @Test
    void aTruncatedArrayIsReportedWithWhatTheHeaderPromised() throws Exception {
        Map<String, byte[]> arrays = arrays(new long[] {2, 2, 2}, new long[] {1, 2, 2}, new byte[] {0, 1}, new byte[] {0});
        byte[] whole = arrays.get("train_images");
        arrays.put("train_images", Arrays.copyOf(whole, whole.length - 3));
        Path file = npz(freshDirectory("medmnist-").resolve("x.npz"), arrays, true);
        DatasetException error = assertThrows(DatasetException.class, () -> Datasets.open(DatasetSpec.of("medmnist", file)));
        assertTrue(error.getMessage().contains("array 'train_images' header promises shape [2, 2, 2] of |u1 = 8 bytes, "
                + "but only 5 follow (truncated)"), error.getMessage());
    }

    @Test
    void aFileThatIsNotAZipIsReported() throws Exception {
        Path file = io.wattlab.trainer.data.FormatWriters.write(freshDirectory("medmnist-").resolve("x.npz"), ramp(100, 0));
        DatasetException error = assertThrows(DatasetException.class, () -> Datasets.open(DatasetSpec.of("medmnist", file)));
        assertTrue(error.getMessage().contains("not a readable .npz (zip) file"), error.getMessage());
    }

    @Test
    void npyHeadersAreParsedForDtypeShapeAndOrder() throws Exception {
        NpyArray labels = NpyArray.read(new ByteArrayInputStream(npy("<i8", false, new long[] {3},
                ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN).putLong(4).putLong(0).putLong(11).array())));
        assertEquals("<i8", labels.dtype());
        assertArrayEquals(new long[] {3}, labels.shape());
        assertArrayEquals(new int[] {4, 0, 11}, labels.toLabelInts());

        NpyArray.FormatException fortran = assertThrows(NpyArray.FormatException.class,
                () -> NpyArray.read(new ByteArrayInputStream(npy("|u1", true, new long[] {2, 2}, new byte[4]))));
        assertTrue(fortran.getMessage().contains("Fortran order"), fortran.getMessage());

        NpyArray.FormatException notNpy = assertThrows(NpyArray.FormatException.class,
                () -> NpyArray.read(new ByteArrayInputStream("PK\u0003\u0004 not npy".getBytes())));
        assertTrue(notNpy.getMessage().contains("magic"), notNpy.getMessage());

        NpyArray.FormatException floats = assertThrows(NpyArray.FormatException.class,
                () -> NpyArray.read(new ByteArrayInputStream(npy("<f4", false, new long[] {1}, new byte[4]))).toLabelInts());
        assertTrue(floats.getMessage().contains("not an integer type"), floats.getMessage());
    }

    @Test
    void imagesMustBeUnsignedBytes() throws IOException {
        Map<String, byte[]> arrays = arrays(new long[] {2, 2, 2}, new long[] {1, 2, 2}, new byte[] {0, 1}, new byte[] {0});
        arrays.put("train_images", npy("<f4", false, new long[] {2, 2, 1}, new byte[16]));
        Path file = npz(freshDirectory("medmnist-").resolve("x.npz"), arrays, false);
        DatasetException error = assertThrows(DatasetException.class, () -> Datasets.open(DatasetSpec.of("medmnist", file)));
        assertTrue(error.getMessage().contains("train_images has dtype <f4, expected |u1"), error.getMessage());
    }
}
