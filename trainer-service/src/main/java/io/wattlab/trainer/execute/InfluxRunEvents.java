package io.wattlab.trainer.execute;

import okhttp3.OkHttpClient;
import org.influxdb.InfluxDB;
import org.influxdb.InfluxDBFactory;
import org.influxdb.dto.Point;
import org.influxdb.dto.Query;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Writes one run's events to InfluxDB as docs/run-events.md lays out: the common tags (run_id,
 * model, technique, device and the run's labels, a label that collides with a reserved tag name
 * prefixed {@code label_}) on every point. Each point is written at once, synchronously, with short
 * timeouts; a failure is logged and the run goes on. The database is created if missing.
 */
public final class InfluxRunEvents implements RunEvents {

    private static final Logger LOG = LoggerFactory.getLogger(InfluxRunEvents.class);

    /** Tag names the schema reserves; a run label of one of these names is written as label_NAME. */
    public static final Set<String> RESERVED_TAGS = Set.of("run_id", "model", "technique", "compression", "device",
            "phase", "variant", "host", "domain", "sensor", "source", "in_total");

    /** Where to write. */
    public record Target(String url, String database, String username, String password) {
    }

    private final InfluxDB influx;
    private final Target target;
    private final Map<String, String> commonTags;
    private boolean warned;

    public InfluxRunEvents(Target target, Map<String, String> commonTags) {
        this.target = target;
        this.commonTags = Map.copyOf(commonTags);
        OkHttpClient.Builder http = new OkHttpClient.Builder()
                .connectTimeout(3, TimeUnit.SECONDS)
                .readTimeout(5, TimeUnit.SECONDS)
                .writeTimeout(5, TimeUnit.SECONDS);
        this.influx = target.username() == null
                ? InfluxDBFactory.connect(target.url(), http)
                : InfluxDBFactory.connect(target.url(), target.username(), target.password(), http);
        try {
            influx.query(new Query("CREATE DATABASE \"" + target.database().replace("\"", "\\\"") + "\""));
        } catch (RuntimeException e) {
            warn("cannot create database " + target.database(), e);
        }
    }

    /** The common tags of a run's points: run_id, model, technique, device and the labels. */
    public static Map<String, String> commonTags(String runId, String model, String technique, String device,
                                                 Map<String, String> labels) {
        return commonTags(runId, model, technique, Map.of(), device, labels);
    }

    /**
     * The common tags with the compression's parameters: {@code compression} holds them all as
     * {@code key=value,...} (one value per configuration), and each is also a tag
     * {@code compression_KEY} to group by.
     */
    public static Map<String, String> commonTags(String runId, String model, String technique,
                                                 Map<String, String> compression, String device,
                                                 Map<String, String> labels) {
        Map<String, String> tags = new LinkedHashMap<>();
        tags.put("run_id", runId);
        tags.put("model", model);
        tags.put("technique", technique);
        StringBuilder all = new StringBuilder();
        new java.util.TreeMap<>(compression).forEach((k, v) -> {
            all.append(all.isEmpty() ? "" : ",").append(k).append('=').append(v);
            tags.put("compression_" + k, v);
        });
        tags.put("compression", all.toString());
        tags.put("device", device);
        labels.forEach((k, v) -> tags.put(RESERVED_TAGS.contains(k) || k.startsWith("compression_") ? "label_" + k : k, v));
        tags.values().removeIf(v -> v == null || v.isEmpty());
        return tags;
    }

    @Override
    public void write(String measurement, Map<String, String> extraTags, Map<String, Object> fields, long timeNanos) {
        try {
            Point.Builder p = Point.measurement(measurement).time(timeNanos, TimeUnit.NANOSECONDS).tag(commonTags);
            extraTags.forEach(p::tag);
            fields.forEach((name, value) -> {
                if (value instanceof Double d && !Double.isFinite(d)) {
                    return;
                }
                if (value instanceof Number n) {
                    p.addField(name, n);
                } else if (value instanceof Boolean b) {
                    p.addField(name, b);
                } else {
                    p.addField(name, String.valueOf(value));
                }
            });
            influx.write(target.database(), null, p.build());
        } catch (RuntimeException e) {
            warn("cannot write a " + measurement + " point", e);
        }
    }

    private void warn(String what, RuntimeException e) {
        // Once per run at warn level: an unreachable InfluxDB would otherwise log every epoch.
        if (!warned) {
            warned = true;
            LOG.warn("InfluxDB {} database {}: {}: {} (the run goes on; further errors at debug level)",
                    target.url(), target.database(), what, e.toString());
        } else {
            LOG.debug("InfluxDB {}: {}: {}", target.url(), what, e.toString());
        }
    }

    @Override
    public void close() {
        influx.close();
    }
}
