package io.wattlab.trainer.data;

import io.wattlab.trainer.data.transform.Normalize;
import io.wattlab.trainer.data.transform.RandomCrop;
import io.wattlab.trainer.data.transform.RandomHorizontalFlip;
import io.wattlab.trainer.data.transform.Resize;
import io.wattlab.trainer.data.transform.ToChannels;
import io.wattlab.trainer.data.transform.Transforms;
import org.junit.jupiter.api.Test;

import java.util.Collections;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DatasetTest {

    /** Four 3×2×2 images whose byte at offset p of image i is 10·i + p, labels 0..3 mod classes. */
    private static ImageSet images(ImageShape shape, int count, int classes) {
        byte[] pixels = new byte[count * shape.length()];
        int[] labels = new int[count];
        for (int i = 0; i < count; i++) {
            for (int p = 0; p < shape.length(); p++) {
                pixels[i * shape.length() + p] = (byte) (10 * i + p);
            }
            labels[i] = i % classes;
        }
        return new ImageSet(shape, pixels, labels);
    }

    private static Dataset cifarLike() {
        ImageShape shape = new ImageShape(3, 32, 32);
        List<String> names = List.of("a", "b", "c", "d", "e", "f", "g", "h", "i", "j");
        return Dataset.of("cifar10", names, images(shape, 4, 10), images(shape, 2, 10), LoadReport.empty());
    }

    @Test
    void fillWritesBytesOver255ThroughTheTransformsInNchwOrder() {
        ImageShape shape = new ImageShape(3, 2, 2);
        Dataset dataset = Dataset.of("tiny", List.of("x", "y"), images(shape, 4, 2), images(shape, 2, 2), LoadReport.empty())
                .withTransforms(Transforms.of(new Normalize(new float[] {0.1f, 0.2f, 0.3f}, new float[] {0.5f, 0.5f, 2f})));
        Split train = dataset.train();
        float[] out = new float[2 * shape.length()];
        long[] labels = new long[2];
        train.fill(new int[] {3, 0}, out, labels, 7);
        assertArrayEquals(new long[] {1, 0}, labels);
        for (int p = 0; p < shape.length(); p++) {
            int c = p / 4;
            float mean = new float[] {0.1f, 0.2f, 0.3f}[c];
            float std = new float[] {0.5f, 0.5f, 2f}[c];
            assertEquals(((30 + p) / 255f - mean) / std, out[p], 1e-6f, "image 3 value " + p);
            assertEquals((p / 255f - mean) / std, out[shape.length() + p], 1e-6f, "image 0 value " + p);
        }
    }

    @Test
    void augmentationsRunOnTrainingOnlyAndAreFixedByTheSeed() {
        ImageShape shape = new ImageShape(1, 6, 6);
        Dataset dataset = Dataset.of("tiny", List.of("x", "y"), images(shape, 4, 2), images(shape, 4, 2), LoadReport.empty())
                .withTransforms(Transforms.of(new RandomCrop(2), new RandomHorizontalFlip()));
        assertTrue(dataset.train().augmented());
        assertFalse(dataset.test().augmented());
        int[] all = {0, 1, 2, 3};
        float[] a = new float[4 * 36];
        float[] b = new float[4 * 36];
        long[] labels = new long[4];
        dataset.train().fill(all, a, labels, 42);
        dataset.train().fill(all, b, labels, 42);
        assertArrayEquals(a, b);
        dataset.train().fill(all, b, labels, 43);
        assertFalse(java.util.Arrays.equals(a, b), "another seed, other crops and flips");
        float[] plain = new float[4 * 36];
        dataset.test().fill(all, plain, labels, 42);
        for (int i = 0; i < 4; i++) {
            for (int p = 0; p < 36; p++) {
                assertEquals((10 * i + p) / 255f, plain[i * 36 + p], 1e-6f);
            }
        }
    }

    @Test
    void requireFitsNamesBothShapesWhenTheyDiffer() {
        Dataset cifar = cifarLike();
        DatasetMismatchException error = assertThrows(DatasetMismatchException.class,
                () -> cifar.requireFits(new int[] {1, 1, 28, 28}, 10));
        assertTrue(error.getMessage().startsWith(
                "dataset cifar10 gives 3×32×32 images and 10 classes; model expects input 1×28×28 and 10 classes"),
                error.getMessage());
        assertTrue(error.getMessage().contains("ToChannels(1)") && error.getMessage().contains("Resize(28, 28)"),
                error.getMessage());

        DatasetMismatchException classes = assertThrows(DatasetMismatchException.class,
                () -> cifar.requireFits(new long[] {-1, 3, 32, 32}, 100));
        assertTrue(classes.getMessage().startsWith(
                "dataset cifar10 gives 3×32×32 images and 10 classes; model expects input 3×32×32 and 100 classes"),
                classes.getMessage());
    }

    @Test
    void requireFitsAcceptsDynamicDimensionsAndConfiguredConversions() throws DatasetMismatchException {
        Dataset cifar = cifarLike();
        cifar.requireFits(new int[] {-1, 3, 32, 32}, 10);
        cifar.requireFits(new int[] {3, -1, -1}, 0);
        Dataset adapted = cifar.withTransforms(Transforms.of(new ToChannels(1), new Resize(28, 28)));
        adapted.requireFits(new int[] {1, 1, 28, 28}, 10);
        assertEquals(new ImageShape(1, 28, 28), adapted.imageShape());
        assertEquals(new ImageShape(3, 32, 32), adapted.storedShape());
        assertEquals(new ImageShape(1, 28, 28), adapted.test().imageShape());
    }

    @Test
    void labelsBeyondTheClassListAreRefused() {
        ImageShape shape = new ImageShape(1, 1, 1);
        ImageSet set = new ImageSet(shape, new byte[] {0, 0, 0}, new int[] {0, 1, 2});
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> Dataset.of("bad", List.of("a", "b"), set, set, LoadReport.empty()));
        assertTrue(error.getMessage().contains("label 2 but only 2 classes"), error.getMessage());
    }

    @Test
    void channelStatisticsAreThePopulationMeanAndDeviation() {
        // Channel 0 holds 0 and 255 (mean 0.5, deviation 0.5); channel 1 is constant 51 (0.2, 0).
        ImageShape shape = new ImageShape(2, 1, 1);
        ImageSet set = new ImageSet(shape, new byte[] {0, 51, (byte) 255, 51}, new int[] {0, 0});
        Split.Normalization stats = new Split("s", set, Transforms.none()).channelStatistics();
        assertArrayEquals(new float[] {0.5f, 0.2f}, stats.mean(), 1e-6f);
        assertArrayEquals(new float[] {0.5f, 0f}, stats.std(), 1e-6f);
        assertArrayEquals(new float[] {0.5f, 1f}, stats.asTransform().std(), 1e-6f);
    }

    @Test
    void heldOutSplitIsStratifiedDisjointAndSeeded() {
        int[] labels = new int[100];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = i < 60 ? 0 : i < 90 ? 1 : 2;
        }
        HeldOut.Partition partition = HeldOut.split(labels, 0.2, 5);
        assertEquals(80, partition.train().length);
        assertEquals(20, partition.test().length);
        int[] perClass = new int[3];
        for (int i : partition.test()) {
            perClass[labels[i]]++;
        }
        assertArrayEquals(new int[] {12, 6, 2}, perClass);
        List<Integer> union = new java.util.ArrayList<>();
        for (int i : partition.train()) {
            union.add(i);
        }
        for (int i : partition.test()) {
            union.add(i);
        }
        Collections.sort(union);
        for (int i = 0; i < 100; i++) {
            assertEquals(i, union.get(i));
        }
        assertArrayEquals(partition.test(), HeldOut.split(labels, 0.2, 5).test());
        assertFalse(java.util.Arrays.equals(partition.test(), HeldOut.split(labels, 0.2, 6).test()));
    }
}
