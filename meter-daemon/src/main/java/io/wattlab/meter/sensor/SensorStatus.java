package io.wattlab.meter.sensor;

import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.Source;

import java.util.List;

/**
 * What one sensor found when opened.
 *
 * @param sensor    the sensor name
 * @param available whether it has at least one channel
 * @param source    measured or estimated
 * @param message   why it is unavailable or degraded and what would fix it; empty when all is well
 * @param channels  the channels it reads
 */
public record SensorStatus(String sensor, boolean available, Source source, String message, List<Channel> channels) {

    public SensorStatus {
        channels = List.copyOf(channels);
    }

    public static SensorStatus unavailable(String sensor, Source source, String message) {
        return new SensorStatus(sensor, false, source, message, List.of());
    }
}
