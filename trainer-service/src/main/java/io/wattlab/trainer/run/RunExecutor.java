package io.wattlab.trainer.run;

import io.wattlab.proto.v1.RunReport;
import io.wattlab.proto.v1.RunSpec;

/**
 * Carries out one run — load, compress, train, evaluate, each phase metered — and returns its
 * report. The service decides when a run starts (one per device at a time) and keeps its record;
 * the executor only does the work, telling the listener as it goes.
 */
public interface RunExecutor {

    /**
     * @param runId    the run's id, for tags and file names
     * @param spec     an already validated spec ({@link RunSpecs#validate})
     * @param listener told of every phase change, epoch and energy update, on the executor's thread
     * @param cancel   polled at every step boundary
     * @return the complete report
     * @throws RunFailedException   with a message naming the phase, epoch and step where it applies;
     *                              {@link RunFailedException#partialReport()} keeps what was measured
     * @throws RunCancelledException when {@code cancel} was raised; it carries the partial report
     */
    RunReport execute(String runId, RunSpec spec, RunListener listener, CancelSignal cancel)
            throws RunFailedException, RunCancelledException;
}
