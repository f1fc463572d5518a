package io.wattlab.meter.sink.influx;

import io.wattlab.meter.sample.Sample;
import org.influxdb.dto.Point;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Turns a sample into InfluxDB line protocol: a {@code power} point (field {@code watts}), an
 * {@code energy} point (field {@code joules}, cumulative) and, when the sample has gauges, a
 * {@code gauges} point with one field per gauge. The schema is described in docs/influx-schema.md.
 */
final class PointEncoder {

    static final String POWER = "power";
    static final String ENERGY = "energy";
    static final String GAUGES = "gauges";

    private final Map<String, String> commonTags;

    /**
     * @param host       value of the {@code host} tag unless {@code staticTags} sets one
     * @param staticTags tags added to every point
     */
    PointEncoder(String host, Map<String, String> staticTags) {
        Map<String, String> tags = new LinkedHashMap<>();
        tags.put("host", host);
        tags.putAll(staticTags);
        this.commonTags = Map.copyOf(tags);
    }

    /** The line protocol of one sample, one point a line; a value that is not finite is left out. */
    List<String> encode(Sample sample) {
        Map<String, String> tags = new LinkedHashMap<>(commonTags);
        tags.put("domain", sample.channel().domain());
        tags.put("device", sample.channel().device());
        tags.put("sensor", sample.channel().sensor());
        tags.put("source", sample.channel().source().tag());
        // Lets a query sum a machine's energy without knowing which domains contain which.
        tags.put("in_total", Boolean.toString(sample.channel().countedInTotal()));
        tags.replaceAll((key, value) -> tagValue(value));
        tags.values().removeIf(String::isEmpty);

        List<String> lines = new ArrayList<>(3);
        if (Double.isFinite(sample.powerWatts())) {
            lines.add(line(POWER, tags, Map.of("watts", sample.powerWatts()), sample.timestampNanos()));
        }
        if (Double.isFinite(sample.energyJoules())) {
            lines.add(line(ENERGY, tags, Map.of("joules", sample.energyJoules()), sample.timestampNanos()));
        }
        Map<String, Object> gauges = new LinkedHashMap<>();
        sample.gauges().forEach((name, value) -> {
            if (value != null && Double.isFinite(value) && !name.isEmpty()) {
                gauges.put(name, value);
            }
        });
        if (!gauges.isEmpty()) {
            lines.add(line(GAUGES, tags, gauges, sample.timestampNanos()));
        }
        return lines;
    }

    /** How many points {@link #encode} makes of a sample at most, for counting samples that never got encoded. */
    static int pointsOf(Sample sample) {
        return sample.gauges().isEmpty() ? 2 : 3;
    }

    private static String line(String measurement, Map<String, String> tags, Map<String, Object> fields,
                               long timestampNanos) {
        return Point.measurement(measurement)
                .time(timestampNanos, TimeUnit.NANOSECONDS)
                .tag(tags)
                .fields(fields)
                .build()
                .lineProtocol(TimeUnit.NANOSECONDS);
    }

    // Line protocol escapes commas, spaces and equals signs in tag values, but a line break would
    // end the point, so it becomes a space.
    private static String tagValue(String value) {
        return value.replace('\n', ' ').replace('\r', ' ');
    }
}
