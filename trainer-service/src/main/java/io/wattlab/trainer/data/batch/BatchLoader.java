package io.wattlab.trainer.data.batch;

import io.wattlab.trainer.data.Seeds;
import io.wattlab.trainer.data.Split;

import java.util.Objects;
import java.util.SplittableRandom;
import java.util.concurrent.ThreadFactory;

/**
 * Cuts a split into batches, epoch after epoch: in a fresh seeded order each epoch when shuffling,
 * else in index order. Each epoch's {@link BatchIterator} prepares the next batch on a background
 * thread while the caller works on the current one.
 */
public final class BatchLoader {

    private final Split split;
    private final int batchSize;
    private final boolean shuffle;
    private final boolean dropLast;
    private final long seed;
    private final ThreadFactory threadFactory;

    /**
     * @param split         what to read
     * @param batchSize     images per batch
     * @param shuffle       a new order every epoch, fixed by {@code seed} and the epoch number
     * @param dropLast      leave out a last batch smaller than {@code batchSize}
     * @param seed          fixes the orders and the augmentations
     * @param threadFactory makes the prefetch thread of each epoch
     */
    public BatchLoader(Split split, int batchSize, boolean shuffle, boolean dropLast, long seed,
                       ThreadFactory threadFactory) {
        this.split = Objects.requireNonNull(split, "split");
        this.threadFactory = Objects.requireNonNull(threadFactory, "threadFactory");
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
        }
        this.batchSize = batchSize;
        this.shuffle = shuffle;
        this.dropLast = dropLast;
        this.seed = seed;
    }

    /** Shuffled batches of a training split, the last one possibly smaller. */
    public static BatchLoader training(Split split, int batchSize, long seed) {
        return new BatchLoader(split, batchSize, true, false, seed, daemonThreads(split.name()));
    }

    /** Batches of a test split in index order, the last one possibly smaller. */
    public static BatchLoader evaluation(Split split, int batchSize) {
        return new BatchLoader(split, batchSize, false, false, 0, daemonThreads(split.name()));
    }

    public Split split() {
        return split;
    }

    public int batchSize() {
        return batchSize;
    }

    /** How many batches one epoch yields. */
    public int batchesPerEpoch() {
        int size = split.size();
        return dropLast ? size / batchSize : (size + batchSize - 1) / batchSize;
    }

    /** The order in which epoch {@code epoch} visits the split's indices. */
    public int[] order(int epoch) {
        int[] order = new int[split.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        if (shuffle) {
            SplittableRandom random = new SplittableRandom(Seeds.derive(seed, 0x5E1F, epoch));
            for (int i = order.length - 1; i > 0; i--) {
                int j = random.nextInt(i + 1);
                int swap = order[i];
                order[i] = order[j];
                order[j] = swap;
            }
        }
        return order;
    }

    /** The seed of batch {@code batch}'s augmentations in epoch {@code epoch}. */
    long augmentSeed(int epoch, int batch) {
        return Seeds.derive(seed, 0xA46E, epoch, batch);
    }

    /**
     * Starts epoch {@code epoch}: the first batch begins loading at once. Close the iterator when
     * leaving the epoch early; after the last batch its thread ends by itself.
     */
    public BatchIterator epoch(int epoch) {
        return new BatchIterator(this, epoch, order(epoch), threadFactory);
    }

    private static ThreadFactory daemonThreads(String splitName) {
        return runnable -> {
            Thread thread = new Thread(runnable, "batch-prefetch " + splitName);
            thread.setDaemon(true);
            return thread;
        };
    }
}
