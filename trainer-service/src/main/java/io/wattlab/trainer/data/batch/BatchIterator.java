package io.wattlab.trainer.data.batch;

import io.wattlab.trainer.data.ImageShape;
import io.wattlab.trainer.data.Split;

import java.util.Arrays;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The batches of one epoch. While the caller uses the batch {@link #next()} returned, the following
 * batch is being prepared on one background thread, so loading overlaps training.
 *
 * <p>Full batches take turns between two pairs of arrays, so a batch stays valid only until the
 * following call to {@code next()}, which starts filling its arrays with the batch after. Make the
 * tensor from it before then (ONNX Runtime copies a heap buffer into its tensor).
 */
public final class BatchIterator implements Iterator<Batch>, AutoCloseable {

    private final Split split;
    private final BatchLoader loader;
    private final int epoch;
    private final int[] order;
    private final int batches;
    private final ExecutorService executor;
    private final float[][] imageBuffers = new float[2][];
    private final long[][] labelBuffers = new long[2][];
    private int nextIndex;
    private Future<Batch> pending;
    private boolean closed;

    BatchIterator(BatchLoader loader, int epoch, int[] order, ThreadFactory threadFactory) {
        this.loader = loader;
        this.split = loader.split();
        this.epoch = epoch;
        this.order = order;
        this.batches = loader.batchesPerEpoch();
        ThreadPoolExecutor pool = new ThreadPoolExecutor(1, 1, 1, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                threadFactory);
        // An iterator dropped without close() must not keep its thread forever.
        pool.allowCoreThreadTimeOut(true);
        this.executor = pool;
        submitNext();
    }

    @Override
    public boolean hasNext() {
        return !closed && pending != null;
    }

    /**
     * The next batch, waiting for the background thread if it is not ready yet.
     *
     * @throws RuntimeException whatever preparing the batch threw
     */
    @Override
    public Batch next() {
        if (!hasNext()) {
            throw new NoSuchElementException("epoch " + epoch + " of " + split.name() + " has no more batches");
        }
        Batch batch;
        try {
            batch = pending.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            close();
            throw new IllegalStateException("interrupted while waiting for a batch of " + split.name(), e);
        } catch (ExecutionException e) {
            close();
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException runtime) {
                throw runtime;
            }
            if (cause instanceof Error error) {
                throw error;
            }
            throw new IllegalStateException("preparing a batch of " + split.name() + " failed", cause);
        } catch (CancellationException e) {
            throw new NoSuchElementException("iterator over " + split.name() + " was closed");
        }
        submitNext();
        return batch;
    }

    private void submitNext() {
        if (nextIndex >= batches) {
            pending = null;
            executor.shutdown();
            return;
        }
        int index = nextIndex++;
        int from = index * loader.batchSize();
        int count = Math.min(loader.batchSize(), order.length - from);
        long seed = loader.augmentSeed(epoch, index);
        pending = executor.submit(() -> prepare(index, from, count, seed));
        if (nextIndex >= batches) {
            executor.shutdown();
        }
    }

    private Batch prepare(int index, int from, int count, long seed) {
        ImageShape shape = split.imageShape();
        float[] images;
        long[] labels;
        if (count == loader.batchSize()) {
            int slot = index % 2;
            if (imageBuffers[slot] == null) {
                imageBuffers[slot] = new float[count * shape.length()];
                labelBuffers[slot] = new long[count];
            }
            images = imageBuffers[slot];
            labels = labelBuffers[slot];
        } else {
            images = new float[count * shape.length()];
            labels = new long[count];
        }
        split.fill(order, from, count, images, labels, seed);
        return new Batch(epoch, index, images, labels, shape, Arrays.copyOfRange(order, from, from + count));
    }

    /** Number of batches this epoch yields in all. */
    public int batches() {
        return batches;
    }

    /** Stops any batch being prepared and ends the background thread. */
    @Override
    public void close() {
        closed = true;
        if (pending != null) {
            pending.cancel(true);
            pending = null;
        }
        executor.shutdownNow();
    }

    /** True once the background thread has ended (after the last batch, or after {@link #close()}). */
    public boolean awaitTermination(long timeoutMillis) throws InterruptedException {
        return executor.awaitTermination(timeoutMillis, TimeUnit.MILLISECONDS);
    }
}
