package io.wattlab.meter.sensor;

/**
 * Energy from a series of power readings, by the trapezoid rule: the same rule InfluxQL's
 * {@code INTEGRAL()} applies, so that the daemon's numbers and a query over its points agree.
 */
public final class PowerIntegrator {

    private long lastNanos = Long.MIN_VALUE;
    private double lastWatts;
    private double energyJoules;

    /** Adds a power reading taken at {@code timestampNanos} and returns the energy so far. */
    public double add(long timestampNanos, double powerWatts) {
        if (lastNanos != Long.MIN_VALUE && timestampNanos > lastNanos) {
            double seconds = (timestampNanos - lastNanos) / 1e9;
            energyJoules += 0.5 * (lastWatts + powerWatts) * seconds;
        }
        if (timestampNanos >= lastNanos) {
            lastNanos = timestampNanos;
            lastWatts = powerWatts;
        }
        return energyJoules;
    }

    public double energyJoules() {
        return energyJoules;
    }
}
