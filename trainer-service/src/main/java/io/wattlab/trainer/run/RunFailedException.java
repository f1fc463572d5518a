package io.wattlab.trainer.run;

import io.wattlab.proto.v1.RunReport;

/** A run that could not finish; the message says where (phase, epoch, step) and why. */
public class RunFailedException extends Exception {

    private final RunReport partialReport;

    public RunFailedException(String message, RunReport partialReport, Throwable cause) {
        super(message, cause);
        this.partialReport = partialReport;
    }

    public RunReport partialReport() {
        return partialReport;
    }
}
