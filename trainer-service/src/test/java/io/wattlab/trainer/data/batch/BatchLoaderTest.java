package io.wattlab.trainer.data.batch;

import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.ImageSet;
import io.wattlab.trainer.data.ImageShape;
import io.wattlab.trainer.data.LoadReport;
import io.wattlab.trainer.data.Split;
import io.wattlab.trainer.data.transform.RandomCrop;
import io.wattlab.trainer.data.transform.RandomHorizontalFlip;
import io.wattlab.trainer.data.transform.Transforms;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadFactory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BatchLoaderTest {

    private static final ImageShape SHAPE = new ImageShape(1, 2, 2);

    /** 23 images; every pixel of image i holds byte i, label i mod 5, so a batch's images name their indices. */
    private static Dataset numbered() {
        int count = 23;
        byte[] pixels = new byte[count * SHAPE.length()];
        int[] labels = new int[count];
        for (int i = 0; i < count; i++) {
            Arrays.fill(pixels, i * SHAPE.length(), (i + 1) * SHAPE.length(), (byte) i);
            labels[i] = i % 5;
        }
        ImageSet set = new ImageSet(SHAPE, pixels, labels);
        return Dataset.of("numbered", List.of("a", "b", "c", "d", "e"), set, set, LoadReport.empty());
    }

    /** Records every thread it makes, so a test can check they end. */
    private static final class RecordingThreads implements ThreadFactory {
        final List<Thread> threads = new CopyOnWriteArrayList<>();

        @Override
        public Thread newThread(Runnable runnable) {
            Thread thread = new Thread(runnable, "test-prefetch");
            thread.setDaemon(true);
            threads.add(thread);
            return thread;
        }
    }

    /** The indices an epoch delivered, read back from the pixel values, checking labels and Batch.indices on the way. */
    private static List<Integer> deliveredIndices(BatchLoader loader, int epoch) {
        List<Integer> seen = new ArrayList<>();
        try (BatchIterator batches = loader.epoch(epoch)) {
            int expectedIndex = 0;
            while (batches.hasNext()) {
                Batch batch = batches.next();
                assertEquals(epoch, batch.epoch());
                assertEquals(expectedIndex++, batch.index());
                assertArrayEquals(new long[] {batch.size(), 1, 2, 2}, batch.imagesTensorShape());
                for (int i = 0; i < batch.size(); i++) {
                    int index = Math.round(batch.images()[i * SHAPE.length()] * 255);
                    assertEquals(index % 5, batch.labels()[i], "label of image " + index);
                    assertEquals(index, batch.indices()[i], "the batch names the split index of its image " + i);
                    seen.add(index);
                }
            }
            assertEquals(batches.batches(), expectedIndex);
        }
        return seen;
    }

    @Test
    void everyIndexComesOncePerEpochInANewSeededOrder() {
        BatchLoader loader = BatchLoader.training(numbered().train(), 5, 11);
        assertEquals(5, loader.batchesPerEpoch(), "4 full batches and one of 3");
        List<Integer> first = deliveredIndices(loader, 0);
        List<Integer> second = deliveredIndices(loader, 1);
        List<Integer> all = new ArrayList<>();
        for (int i = 0; i < 23; i++) {
            all.add(i);
        }
        assertEquals(all, first.stream().sorted().toList());
        assertEquals(all, second.stream().sorted().toList());
        assertNotEquals(first, second, "each epoch shuffles anew");
        assertNotEquals(all, first, "shuffled, not in index order");
        assertEquals(first, deliveredIndices(BatchLoader.training(numbered().train(), 5, 11), 0), "same seed, same order");
        assertNotEquals(first, deliveredIndices(BatchLoader.training(numbered().train(), 5, 12), 0));
    }

    @Test
    void evaluationGoesInIndexOrderAndDropLastLeavesOutTheRemainder() {
        List<Integer> all = new ArrayList<>();
        for (int i = 0; i < 23; i++) {
            all.add(i);
        }
        assertEquals(all, deliveredIndices(BatchLoader.evaluation(numbered().test(), 4), 0));
        BatchLoader dropping = new BatchLoader(numbered().train(), 5, true, true, 0, new RecordingThreads());
        assertEquals(4, dropping.batchesPerEpoch());
        assertEquals(20, deliveredIndices(dropping, 0).size());
    }

    @Test
    void augmentedBatchesAreTheSameWhicheverThreadMadeThem() {
        Dataset augmented = numbered().withTransforms(Transforms.of(new RandomCrop(1), new RandomHorizontalFlip()));
        BatchLoader loader = BatchLoader.training(augmented.train(), 6, 3);
        float[] fromIterator;
        long[] labels;
        try (BatchIterator batches = loader.epoch(2)) {
            batches.next();
            Batch second = batches.next();
            fromIterator = second.images().clone();
            labels = second.labels().clone();
        }
        // The same batch made directly on this thread, from the order and the seed alone.
        int[] order = loader.order(2);
        Split split = augmented.train();
        float[] direct = new float[6 * SHAPE.length()];
        long[] directLabels = new long[6];
        split.fill(order, 6, 6, direct, directLabels, loader.augmentSeed(2, 1));
        assertArrayEquals(direct, fromIterator);
        assertArrayEquals(directLabels, labels);
    }

    @Test
    void thePrefetchThreadEndsAfterTheLastBatchAndOnEarlyClose() throws Exception {
        RecordingThreads threads = new RecordingThreads();
        BatchLoader loader = new BatchLoader(numbered().train(), 4, true, false, 0, threads);

        BatchIterator full = loader.epoch(0);
        while (full.hasNext()) {
            full.next();
        }
        assertTrue(full.awaitTermination(5_000));
        assertEquals(1, threads.threads.size());
        threads.threads.get(0).join(5_000);
        assertFalse(threads.threads.get(0).isAlive(), "thread ended without close()");
        assertThrows(NoSuchElementException.class, full::next);

        BatchIterator early = loader.epoch(1);
        early.next();
        early.close();
        assertTrue(early.awaitTermination(5_000));
        threads.threads.get(1).join(5_000);
        assertFalse(threads.threads.get(1).isAlive(), "thread ended on close()");
        assertFalse(early.hasNext());
    }

    @Test
    void theNextBatchIsPreparedWhileTheCurrentOneIsInUse() throws Exception {
        // A split whose filling blocks until released shows that the iterator asks for batch 1
        // before the caller asks for it.
        java.util.concurrent.CountDownLatch secondStarted = new java.util.concurrent.CountDownLatch(1);
        Dataset dataset = numbered().withTransforms(Transforms.of(new io.wattlab.trainer.data.transform.ImageTransform() {
            @Override
            public ImageShape outputShape(ImageShape input) {
                return input;
            }

            @Override
            public void apply(float[] src, ImageShape input, float[] dst, java.util.random.RandomGenerator random) {
                System.arraycopy(src, 0, dst, 0, input.length());
                if (Math.round(src[0] * 255) >= 10) {
                    secondStarted.countDown();
                }
            }
        }));
        BatchLoader loader = BatchLoader.evaluation(dataset.test(), 10);
        try (BatchIterator batches = loader.epoch(0)) {
            batches.next();
            assertTrue(secondStarted.await(5, java.util.concurrent.TimeUnit.SECONDS),
                    "batch 1 (images 10..19) was being prepared before the caller asked for it");
        }
    }

    @Test
    void badBatchSizesAreRefused() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> BatchLoader.training(numbered().train(), 0, 1));
        assertTrue(error.getMessage().contains("batch size must be positive, got 0"));
    }
}
