package io.wattlab.trainer.data.cifar;

import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetException;
import io.wattlab.trainer.data.DatasetSpec;
import io.wattlab.trainer.data.Datasets;
import io.wattlab.trainer.data.ImageShape;
import io.wattlab.trainer.data.MissingDatasetFileException;
import io.wattlab.trainer.data.Split;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static io.wattlab.trainer.data.FormatWriters.cifarRecord;
import static io.wattlab.trainer.data.FormatWriters.freshDirectory;
import static io.wattlab.trainer.data.FormatWriters.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CifarLoaderTest {

    /** Red is the record's number, green the pixel index mod 256, blue 255 minus red. */
    private static byte[] record(int[] labels, int number) {
        return cifarRecord(labels, (c, p) -> c == 0 ? number : c == 1 ? p % 256 : 255 - number);
    }

    /** cifar-10-batches-bin with two records per training batch (labels 2b-2, 2b-1) and three test records. */
    private static Path cifar10() throws IOException {
        Path dir = freshDirectory("cifar10-").resolve("cifar-10-batches-bin");
        for (int b = 1; b <= 5; b++) {
            write(dir.resolve("data_batch_" + b + ".bin"),
                    record(new int[] {2 * b - 2}, 10 * b), record(new int[] {2 * b - 1}, 10 * b + 1));
        }
        write(dir.resolve("test_batch.bin"), record(new int[] {9}, 200), record(new int[] {0}, 201), record(new int[] {5}, 202));
        return dir;
    }

    @Test
    void readsTheFiveTrainingBatchesInOrderAndTheTestBatch() throws Exception {
        Dataset dataset = Datasets.open(DatasetSpec.of("cifar10", cifar10().getParent()));
        assertEquals("cifar10", dataset.name());
        assertEquals(new ImageShape(3, 32, 32), dataset.imageShape());
        assertEquals(10, dataset.numClasses());
        assertEquals("airplane", dataset.classNames().get(0));
        assertEquals("truck", dataset.classNames().get(9));
        Split train = dataset.train();
        Split test = dataset.test();
        assertEquals(10, train.size());
        assertEquals(3, test.size());
        for (int i = 0; i < 10; i++) {
            assertEquals(i, train.label(i));
        }
        assertEquals(9, test.label(0));

        // Training image 3 is batch 2's second record: red 21 everywhere, green p mod 256, blue 234.
        float[] image = new float[3072];
        long[] label = new long[1];
        train.fill(new int[] {3}, image, label, 0);
        assertEquals(3, label[0]);
        assertEquals(21 / 255f, image[0], 1e-7f);
        assertEquals(21 / 255f, image[1023], 1e-7f);
        assertEquals(0 / 255f, image[1024], 1e-7f);
        assertEquals(255 / 255f, image[1024 + 255], 1e-7f);
        assertEquals(1 / 255f, image[1024 + 257], 1e-7f);
        assertEquals(234 / 255f, image[2048 + 100], 1e-7f);
    }

    @Test
    void cifar100UsesFineLabelsUnlessCoarseIsAsked() throws Exception {
        Path dir = freshDirectory("cifar100-").resolve("cifar-100-binary");
        write(dir.resolve("train.bin"), record(new int[] {4, 72}, 1), record(new int[] {19, 99}, 2));
        write(dir.resolve("test.bin"), record(new int[] {0, 4}, 3));

        Dataset fine = Datasets.open(DatasetSpec.of("cifar100", dir));
        assertEquals(100, fine.numClasses());
        assertEquals(72, fine.train().label(0));
        assertEquals(99, fine.train().label(1));
        assertEquals(4, fine.test().label(0));
        assertEquals("seal", fine.classNames().get(72));
        assertEquals("worm", fine.classNames().get(99));

        Dataset coarse = Datasets.open(DatasetSpec.of("cifar100", dir).with("labels", "coarse"));
        assertEquals(20, coarse.numClasses());
        assertEquals(4, coarse.train().label(0));
        assertEquals(19, coarse.train().label(1));
        assertEquals(0, coarse.test().label(0));
        assertEquals("fish", coarse.classNames().get(1));

        float[] image = new float[3072];
        coarse.train().fill(new int[] {1}, image, new long[1], 0);
        assertEquals(2 / 255f, image[0], 1e-7f, "pixels start after both label bytes");
        assertEquals(253 / 255f, image[3071], 1e-7f);

        DatasetException bad = assertThrows(DatasetException.class,
                () -> Datasets.open(DatasetSpec.of("cifar100", dir).with("labels", "medium")));
        assertTrue(bad.getMessage().contains("labels=medium") && bad.getMessage().contains("fine, coarse"), bad.getMessage());
    }

    @Test
    void aTruncatedBatchIsNamedWithItsByteCount() throws Exception {
        Path dir = cifar10();
        byte[] whole = Files.readAllBytes(dir.resolve("data_batch_3.bin"));
        write(dir.resolve("data_batch_3.bin"), Arrays.copyOf(whole, whole.length - 100));
        DatasetException error = assertThrows(DatasetException.class, () -> CifarLoader.openCifar10(dir));
        assertTrue(error.getMessage().contains("data_batch_3.bin: 6046 bytes is not a whole number of 3073-byte"),
                error.getMessage());
    }

    @Test
    void aLabelOutsideTheClassesMeansTheWrongFormat() throws Exception {
        Path dir = cifar10();
        write(dir.resolve("test_batch.bin"), record(new int[] {0}, 1), record(new int[] {12}, 2));
        DatasetException error = assertThrows(DatasetException.class, () -> CifarLoader.openCifar10(dir));
        assertTrue(error.getMessage().contains("test_batch.bin: record 1 has label 12"), error.getMessage());
    }

    @Test
    void aMissingTestBatchIsNamed() throws Exception {
        Path dir = cifar10();
        Files.delete(dir.resolve("test_batch.bin"));
        MissingDatasetFileException error = assertThrows(MissingDatasetFileException.class,
                () -> CifarLoader.openCifar10(dir));
        assertTrue(error.getMessage().contains("test_batch.bin") && error.getMessage().contains(dir.toString()),
                error.getMessage());
    }

    @Test
    void classNameListsHaveTheirPublishedLengths() {
        assertEquals(10, CifarClasses.CIFAR10.size());
        assertEquals(100, CifarClasses.CIFAR100_FINE.size());
        assertEquals(20, CifarClasses.CIFAR100_COARSE.size());
        assertArrayEquals(CifarClasses.CIFAR100_FINE.stream().sorted().toArray(), CifarClasses.CIFAR100_FINE.toArray(),
                "CIFAR-100 numbers its fine classes alphabetically");
    }
}
