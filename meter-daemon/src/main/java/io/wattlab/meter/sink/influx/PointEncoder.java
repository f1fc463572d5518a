package io.wattlab.meter.sink.influx;

import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.Sample;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Turns a sample into InfluxDB line protocol: a {@code power} point (field {@code watts}), an
 * {@code energy} point (field {@code joules}, cumulative) and, when the sample has gauges, a
 * {@code gauges} point with one field per gauge. The schema is described in docs/influx-schema.md.
 */
final class PointEncoder {

    static final String POWER = "power";
    static final String ENERGY = "energy";
    static final String GAUGES = "gauges";

    // A daemon has a handful of channels; the bound only keeps a caller that makes a new channel
    // for every sample from growing the cache without end.
    private static final int MAX_CACHED_CHANNELS = 4096;

    private final Map<String, String> commonTags;
    // The ",k=v,..." part of a channel's lines, escaped once: built per point, it was most of the encoding's work.
    private final Map<Channel, String> tagsByChannel = new ConcurrentHashMap<>();

    /**
     * @param host       value of the {@code host} tag unless {@code staticTags} sets one
     * @param staticTags tags added to every point
     */
    PointEncoder(String host, Map<String, String> staticTags) {
        Map<String, String> tags = new TreeMap<>();
        tags.put("host", host);
        tags.putAll(staticTags);
        this.commonTags = Map.copyOf(tags);
    }

    /** The line protocol of one sample, one point a line; a value that is not finite is left out. */
    List<String> encode(Sample sample) {
        String tags = tags(sample.channel());
        long timestampNanos = sample.timestampNanos();
        List<String> lines = new ArrayList<>(3);
        if (Double.isFinite(sample.powerWatts())) {
            lines.add(new StringBuilder(160).append(POWER).append(tags).append(" watts=")
                    .append(sample.powerWatts()).append(' ').append(timestampNanos).toString());
        }
        if (Double.isFinite(sample.energyJoules())) {
            lines.add(new StringBuilder(160).append(ENERGY).append(tags).append(" joules=")
                    .append(sample.energyJoules()).append(' ').append(timestampNanos).toString());
        }
        String gauges = gaugeFields(sample.gauges());
        if (!gauges.isEmpty()) {
            lines.add(new StringBuilder(tags.length() + gauges.length() + 32).append(GAUGES).append(tags)
                    .append(' ').append(gauges).append(' ').append(timestampNanos).toString());
        }
        return lines;
    }

    /** How many points {@link #encode} makes of a sample at most, for counting samples that never got encoded. */
    static int pointsOf(Sample sample) {
        return sample.gauges().isEmpty() ? 2 : 3;
    }

    private String tags(Channel channel) {
        String tags = tagsByChannel.get(channel);
        if (tags == null) {
            tags = encodeTags(channel);
            if (tagsByChannel.size() >= MAX_CACHED_CHANNELS) {
                tagsByChannel.clear();
            }
            tagsByChannel.put(channel, tags);
        }
        return tags;
    }

    // Sorted by key, as InfluxDB recommends for the fastest indexing; a channel's tag wins over a
    // static tag of the same name.
    private String encodeTags(Channel channel) {
        Map<String, String> tags = new TreeMap<>(commonTags);
        tags.put("domain", channel.domain());
        tags.put("device", channel.device());
        tags.put("sensor", channel.sensor());
        tags.put("source", channel.source().tag());
        // Lets a query sum a machine's energy without knowing which domains contain which.
        tags.put("in_total", Boolean.toString(channel.countedInTotal()));
        StringBuilder line = new StringBuilder();
        tags.forEach((key, value) -> {
            String cleaned = tagValue(value);
            if (!key.isEmpty() && !cleaned.isEmpty()) {
                escape(line.append(','), key);
                escape(line.append('='), cleaned);
            }
        });
        return line.toString();
    }

    // Fields sorted by name, so that a sample's gauges make the same line whatever its map's order.
    private static String gaugeFields(Map<String, Double> gauges) {
        if (gauges.isEmpty()) {
            return "";
        }
        String[] names = gauges.keySet().toArray(new String[0]);
        Arrays.sort(names);
        StringBuilder fields = new StringBuilder(names.length * 40);
        for (String name : names) {
            Double value = gauges.get(name);
            if (value != null && Double.isFinite(value) && !name.isEmpty()) {
                if (!fields.isEmpty()) {
                    fields.append(',');
                }
                // Double.toString gives the shortest digits that read back as the same double, and
                // InfluxDB parses its forms (1.5E9, 1.0E-7) as floats.
                escape(fields, name).append('=').append(value.doubleValue());
            }
        }
        return fields.toString();
    }

    // Line protocol escapes commas, spaces and equals signs in tag keys, tag values and field keys.
    private static StringBuilder escape(StringBuilder out, String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == ',' || c == ' ' || c == '=') {
                out.append('\\');
            }
            out.append(c);
        }
        return out;
    }

    // A line break would end the point, so it becomes a space.
    private static String tagValue(String value) {
        return value.replace('\n', ' ').replace('\r', ' ');
    }
}
