package io.wattlab.meter.ledger;

import io.wattlab.meter.sample.MeterClock;

/** A range that starts before the oldest sample still held in memory, or ends after the newest. */
public class OutOfRetentionException extends Exception {

    private final long retainedStartNanos;
    private final long retainedEndNanos;

    public OutOfRetentionException(String what, long retainedStartNanos, long retainedEndNanos) {
        super(what + "; samples are held from " + MeterClock.toInstant(retainedStartNanos) + " to "
                + MeterClock.toInstant(retainedEndNanos));
        this.retainedStartNanos = retainedStartNanos;
        this.retainedEndNanos = retainedEndNanos;
    }

    public long retainedStartNanos() {
        return retainedStartNanos;
    }

    public long retainedEndNanos() {
        return retainedEndNanos;
    }
}
