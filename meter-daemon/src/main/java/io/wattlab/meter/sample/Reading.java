package io.wattlab.meter.sample;

import java.util.Map;

/**
 * What a sensor reports for one channel at one instant.
 *
 * @param channel      the channel read
 * @param energyJoules energy since the sensor was opened: monotonic, never wraps
 * @param powerWatts   power at (or just before) the instant
 * @param gauges       other instantaneous values of the channel, each name ending in its unit
 *                     ({@code utilization_percent}, {@code memory_used_bytes}, {@code power_limit_watts});
 *                     empty for most sensors
 */
public record Reading(Channel channel, double energyJoules, double powerWatts, Map<String, Double> gauges) {

    public Reading {
        gauges = Map.copyOf(gauges);
    }

    public Reading(Channel channel, double energyJoules, double powerWatts) {
        this(channel, energyJoules, powerWatts, Map.of());
    }
}
