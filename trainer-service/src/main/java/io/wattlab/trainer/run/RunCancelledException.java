package io.wattlab.trainer.run;

import io.wattlab.proto.v1.RunReport;

/** A run stopped by CancelRun at a step boundary; it keeps what was measured. */
public class RunCancelledException extends Exception {

    private final RunReport partialReport;

    public RunCancelledException(String message, RunReport partialReport) {
        super(message);
        this.partialReport = partialReport;
    }

    public RunReport partialReport() {
        return partialReport;
    }
}
