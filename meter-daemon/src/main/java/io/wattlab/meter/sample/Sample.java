package io.wattlab.meter.sample;

import java.util.Map;

/**
 * A reading stamped with the instant it was taken: what flows from the sampler to every sink.
 *
 * @param timestampNanos nanoseconds since the Unix epoch, from {@link MeterClock}
 * @param channel        the channel read
 * @param powerWatts     power at (or just before) the instant
 * @param energyJoules   cumulative energy of the channel since the daemon started
 * @param gauges         the reading's other values, names ending in their unit (see {@link Reading})
 */
public record Sample(long timestampNanos, Channel channel, double powerWatts, double energyJoules,
                     Map<String, Double> gauges) {

    public Sample {
        gauges = Map.copyOf(gauges);
    }

    public Sample(long timestampNanos, Channel channel, double powerWatts, double energyJoules) {
        this(timestampNanos, channel, powerWatts, energyJoules, Map.of());
    }

    public static Sample of(long timestampNanos, Reading reading) {
        return new Sample(timestampNanos, reading.channel(), reading.powerWatts(), reading.energyJoules(),
                reading.gauges());
    }
}
