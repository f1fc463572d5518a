package io.wattlab.meter.sample;

import java.time.Instant;

/**
 * Wall-clock time at nanosecond resolution that never goes backwards: the epoch is read once and
 * {@link System#nanoTime()} is added, so an NTP step cannot reorder samples inside one daemon.
 */
public final class MeterClock {

    private final long epochNanosAtStart;
    private final long nanoTimeAtStart;

    public MeterClock() {
        Instant now = Instant.now();
        this.nanoTimeAtStart = System.nanoTime();
        this.epochNanosAtStart = now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    /** Now, in nanoseconds since the Unix epoch. */
    public long nowNanos() {
        return epochNanosAtStart + (System.nanoTime() - nanoTimeAtStart);
    }

    public static Instant toInstant(long epochNanos) {
        return Instant.ofEpochSecond(Math.floorDiv(epochNanos, 1_000_000_000L), Math.floorMod(epochNanos, 1_000_000_000L));
    }

    public static long toNanos(Instant instant) {
        return instant.getEpochSecond() * 1_000_000_000L + instant.getNano();
    }
}
