package io.wattlab.meter.sample;

/** Where a number comes from: a hardware sensor, or a model of power from load. */
public enum Source {
    MEASURED,
    ESTIMATED;

    /** The value of the InfluxDB {@code source} tag. */
    public String tag() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
