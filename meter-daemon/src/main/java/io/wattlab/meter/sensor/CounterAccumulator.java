package io.wattlab.meter.sensor;

/**
 * Turns a raw hardware energy counter that wraps (RAPL {@code energy_uj}) or restarts into a
 * monotonic count since the first read. A counter value below the previous one is taken as one
 * wrap at {@code maxRange}; where no range is known, the new value is counted from zero.
 */
public final class CounterAccumulator {

    private final long maxRange;
    private long last = -1;
    private long total;

    /** @param maxRange the value at which the counter wraps to zero ({@code max_energy_range_uj}), or 0 if unknown */
    public CounterAccumulator(long maxRange) {
        this.maxRange = maxRange;
    }

    /** Adds a raw counter value and returns the total counted since the first value. */
    public long add(long raw) {
        if (last >= 0) {
            long delta = raw - last;
            if (delta < 0) {
                delta = maxRange > 0 ? maxRange - last + raw : raw;
            }
            total += delta;
        }
        last = raw;
        return total;
    }

    public long total() {
        return total;
    }
}
