package io.wattlab.meter.sink.influx;

import io.micronaut.core.annotation.Nullable;

import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Where and how {@link InfluxSink} writes: the InfluxDB 1.x-compatible endpoint, batching, and the
 * on-disk spool that holds points while InfluxDB cannot be reached.
 *
 * @param url                 base URL of the /write and /query endpoints, e.g. {@code http://127.0.0.1:8086}
 * @param database            database to write to; created on first contact if missing
 * @param username            user for basic authentication, or null for none
 * @param password            password of {@code username}, or null for none
 * @param retentionPolicy     retention policy to write to, or null for the database's default
 * @param batchSize           points per write request at most
 * @param flushIntervalMillis longest time a point waits in memory before it is written (or spooled)
 * @param spoolDirectory      directory holding batches that could not be written yet
 * @param spoolMaxBytes       size of the spool at most; beyond it the oldest batches are dropped
 * @param staticTags          tags added to every point (node, pod, job...); may override {@code host}
 */
public record InfluxConfig(String url, String database, @Nullable String username, @Nullable String password,
                           @Nullable String retentionPolicy, int batchSize, long flushIntervalMillis,
                           Path spoolDirectory, long spoolMaxBytes, Map<String, String> staticTags) {

    /** Tags every point carries from its sample; a static tag may not reuse these names. */
    static final Set<String> SAMPLE_TAGS = Set.of("domain", "device", "sensor", "source", "in_total");

    public static final int DEFAULT_BATCH_SIZE = 1000;
    public static final long DEFAULT_FLUSH_INTERVAL_MILLIS = 1000;
    public static final long DEFAULT_SPOOL_MAX_BYTES = 256L * 1024 * 1024;

    public InfluxConfig {
        Objects.requireNonNull(url, "url");
        if (!url.startsWith("http://") && !url.startsWith("https://")) {
            throw new IllegalArgumentException("InfluxDB url '" + url + "' must start with http:// or https://");
        }
        if (database == null || database.isBlank()) {
            throw new IllegalArgumentException("InfluxDB database name must not be empty");
        }
        if ((username == null) != (password == null)) {
            throw new IllegalArgumentException("InfluxDB username and password must be given together or not at all");
        }
        if (retentionPolicy != null && retentionPolicy.isBlank()) {
            retentionPolicy = null;
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("InfluxDB batchSize must be at least 1, got " + batchSize);
        }
        if (flushIntervalMillis < 1) {
            throw new IllegalArgumentException("InfluxDB flushIntervalMillis must be at least 1, got " + flushIntervalMillis);
        }
        Objects.requireNonNull(spoolDirectory, "spoolDirectory");
        if (spoolMaxBytes < 1) {
            throw new IllegalArgumentException("InfluxDB spoolMaxBytes must be at least 1, got " + spoolMaxBytes);
        }
        staticTags = Map.copyOf(staticTags == null ? Map.of() : staticTags);
        for (Map.Entry<String, String> tag : staticTags.entrySet()) {
            if (SAMPLE_TAGS.contains(tag.getKey())) {
                throw new IllegalArgumentException("static tag '" + tag.getKey()
                        + "' would hide the tag of the same name that every sample carries " + SAMPLE_TAGS);
            }
            if (tag.getKey().isEmpty() || tag.getValue().isEmpty()) {
                throw new IllegalArgumentException("static tag '" + tag.getKey() + "=" + tag.getValue()
                        + "': InfluxDB accepts neither an empty tag key nor an empty tag value");
            }
        }
    }

    /** No authentication, the default retention policy, default batching and spool size, no static tags. */
    public static InfluxConfig of(String url, String database, Path spoolDirectory) {
        return new InfluxConfig(url, database, null, null, null, DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL_MILLIS,
                spoolDirectory, DEFAULT_SPOOL_MAX_BYTES, Map.of());
    }

    public InfluxConfig withBatching(int batchSize, long flushIntervalMillis) {
        return new InfluxConfig(url, database, username, password, retentionPolicy, batchSize, flushIntervalMillis,
                spoolDirectory, spoolMaxBytes, staticTags);
    }

    public InfluxConfig withSpoolMaxBytes(long spoolMaxBytes) {
        return new InfluxConfig(url, database, username, password, retentionPolicy, batchSize, flushIntervalMillis,
                spoolDirectory, spoolMaxBytes, staticTags);
    }

    public InfluxConfig withStaticTags(Map<String, String> staticTags) {
        return new InfluxConfig(url, database, username, password, retentionPolicy, batchSize, flushIntervalMillis,
                spoolDirectory, spoolMaxBytes, staticTags);
    }

    /** The password is left out so that the configuration can be logged. */
    @Override
    public String toString() {
        return "InfluxConfig[url=" + url + ", database=" + database + ", username=" + username
                + ", retentionPolicy=" + retentionPolicy + ", batchSize=" + batchSize
                + ", flushIntervalMillis=" + flushIntervalMillis + ", spoolDirectory=" + spoolDirectory
                + ", spoolMaxBytes=" + spoolMaxBytes + ", staticTags=" + staticTags + "]";
    }
}
