package io.wattlab.meter.config;

import io.wattlab.meter.sensor.estimate.EstimateConfig;
import io.wattlab.meter.sensor.nvml.NvmlConfig;
import io.wattlab.meter.sensor.rapl.RaplConfig;
import io.wattlab.meter.sink.influx.InfluxConfig;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Everything the daemon is started with, read once from configuration keys (each settable by an
 * environment variable: {@code wattlab.influx.url} ← {@code WATTLAB_INFLUX_URL}) and checked before
 * anything starts, so that a bad value fails start-up with one line naming it.
 *
 * @param host             the {@code host} tag of every point
 * @param retention        how long samples are held in memory for {@code GetEnergy}
 * @param nvml             the GPU sensor's settings, empty when disabled
 * @param rapl             the RAPL sensor's settings, empty when disabled
 * @param estimateMode     where the estimate runs
 * @param estimate         the estimate's power model
 * @param intervals        sampling interval per sensor name
 * @param influx           the InfluxDB sink, empty when no URL is set
 */
public record MeterConfig(String host, Duration retention, Optional<NvmlConfig> nvml, Optional<RaplConfig> rapl,
                          EstimateMode estimateMode, EstimateConfig estimate, Map<String, Duration> intervals,
                          Optional<InfluxConfig> influx) {

    /** Where the OSHI estimate is used. */
    public enum EstimateMode {
        /** For the cpu and ram domains that no sensor measures. */
        AUTO,
        /** Always, beside any measurement (to compare the two). */
        ALWAYS,
        /** Never: unmeasured domains are simply absent. */
        NEVER
    }

    public static final Duration DEFAULT_INTERVAL = Duration.ofMillis(100);
    public static final Duration DEFAULT_RETENTION = Duration.ofHours(1);

    public MeterConfig {
        intervals = Map.copyOf(intervals);
    }

    public static MeterConfig from(Settings s) {
        return from(s, DEFAULT_INTERVAL);
    }

    /** As {@link #from(Settings)}, sampling every {@code defaultInterval} where no interval is configured. */
    public static MeterConfig from(Settings s, Duration defaultInterval) {
        Duration interval = s.millis("wattlab.meter.interval-millis", defaultInterval);
        Map<String, Duration> intervals = new LinkedHashMap<>();
        for (String sensor : new String[]{"nvml", "rapl", "estimate"}) {
            intervals.put(sensor, s.millis("wattlab." + sensor + ".interval-millis", interval));
        }
        Duration retention = Duration.ofSeconds(s.positiveLong("wattlab.meter.retention-seconds",
                DEFAULT_RETENTION.toSeconds()));

        Optional<NvmlConfig> nvml = s.bool("wattlab.nvml.enabled", true)
                ? Optional.of(new NvmlConfig(s.string("wattlab.nvml.library"),
                        s.positiveLong("wattlab.nvml.gauge-interval-millis", NvmlConfig.DEFAULT_GAUGE_INTERVAL_MILLIS)))
                : Optional.empty();
        Optional<RaplConfig> rapl = s.bool("wattlab.rapl.enabled", true)
                ? Optional.of(new RaplConfig(s.path("wattlab.rapl.root").orElse(RaplConfig.DEFAULT_ROOT)))
                : Optional.empty();

        EstimateMode mode = s.choice("wattlab.estimate.mode", EstimateMode.class, EstimateMode.AUTO);
        EstimateConfig estimate = estimate(s);

        return new MeterConfig(host(s), retention, nvml, rapl, mode, estimate, intervals, influx(s));
    }

    private static EstimateConfig estimate(Settings s) {
        double ram = s.nonNegativeDouble("wattlab.estimate.ram-watts-per-gib", EstimateConfig.DEFAULT_RAM_WATTS_PER_GIB);
        boolean totals = s.string("wattlab.estimate.cpu-idle-watts").isPresent()
                || s.string("wattlab.estimate.cpu-max-watts").isPresent();
        String idleKey = totals ? "wattlab.estimate.cpu-idle-watts" : "wattlab.estimate.cpu-idle-watts-per-cpu";
        String maxKey = totals ? "wattlab.estimate.cpu-max-watts" : "wattlab.estimate.cpu-max-watts-per-cpu";
        double idle = s.nonNegativeDouble(idleKey, EstimateConfig.DEFAULT_IDLE_WATTS_PER_CPU);
        double max = s.nonNegativeDouble(maxKey, EstimateConfig.DEFAULT_MAX_WATTS_PER_CPU);
        if (totals && (s.string(idleKey).isEmpty() || s.string(maxKey).isEmpty())) {
            String missing = s.string(idleKey).isEmpty() ? idleKey : maxKey;
            throw new ConfigException("invalid configuration: " + missing + " (" + Settings.envName(missing)
                    + ") is missing: whole-host CPU watts need both cpu-idle-watts and cpu-max-watts");
        }
        if (max < idle) {
            throw Settings.invalid(maxKey, s.string(maxKey).orElse(Double.toString(max)),
                    "at least " + idleKey + " (" + idle + " W)");
        }
        return totals ? EstimateConfig.totals(idle, max, ram) : EstimateConfig.perLogicalCpu(idle, max, ram);
    }

    private static Optional<InfluxConfig> influx(Settings s) {
        Optional<String> url = s.string("wattlab.influx.url");
        if (url.isEmpty()) {
            return Optional.empty();
        }
        if (!url.get().startsWith("http://") && !url.get().startsWith("https://")) {
            throw Settings.invalid("wattlab.influx.url", url.get(), "an http:// or https:// URL");
        }
        Optional<String> user = s.string("wattlab.influx.username");
        Optional<String> password = s.string("wattlab.influx.password");
        if (user.isPresent() != password.isPresent()) {
            String missing = user.isPresent() ? "wattlab.influx.password" : "wattlab.influx.username";
            throw new ConfigException("invalid configuration: " + missing + " (" + Settings.envName(missing)
                    + ") is missing: username and password go together");
        }
        Path spool = s.path("wattlab.influx.spool-dir")
                .orElse(Path.of(System.getProperty("user.home"), ".wattlab", "spool"));
        long batch = s.positiveLong("wattlab.influx.batch-size", InfluxConfig.DEFAULT_BATCH_SIZE);
        if (batch > 100_000) {
            throw Settings.invalid("wattlab.influx.batch-size", Long.toString(batch), "at most 100000 points");
        }
        try {
            return Optional.of(new InfluxConfig(url.get(),
                    s.string("wattlab.influx.database", "wattlab"),
                    user.orElse(null), password.orElse(null),
                    s.string("wattlab.influx.retention-policy").orElse(null),
                    (int) batch,
                    s.positiveLong("wattlab.influx.flush-interval-millis", InfluxConfig.DEFAULT_FLUSH_INTERVAL_MILLIS),
                    spool,
                    s.positiveLong("wattlab.influx.spool-max-bytes", InfluxConfig.DEFAULT_SPOOL_MAX_BYTES),
                    staticTags(s)));
        } catch (IllegalArgumentException e) {
            throw new ConfigException("invalid configuration: wattlab.influx.*: " + e.getMessage());
        }
    }

    /** Static tags from {@code wattlab.tags.NAME} keys ({@code WATTLAB_TAGS_NODE=n1}) and from {@code WATTLAB_INFLUX_TAGS=node=n1,job=j}. */
    static Map<String, String> staticTags(Settings s) {
        Map<String, String> tags = new LinkedHashMap<>();
        Optional<String> list = s.string("wattlab.influx.tags");
        if (list.isPresent()) {
            for (String pair : list.get().split(",")) {
                int eq = pair.indexOf('=');
                if (eq <= 0 || eq == pair.length() - 1) {
                    throw Settings.invalid("wattlab.influx.tags", list.get(), "name=value pairs separated by commas");
                }
                tags.put(pair.substring(0, eq).trim(), pair.substring(eq + 1).trim());
            }
        }
        for (String name : new String[]{"node", "pod", "namespace", "job", "cluster"}) {
            s.string("wattlab.tags." + name).ifPresent(v -> tags.put(name, v));
        }
        return tags;
    }

    private static String host(Settings s) {
        return s.string("wattlab.host").orElseGet(() -> {
            String env = System.getenv("HOSTNAME");
            if (env != null && !env.isBlank()) {
                return env;
            }
            try {
                return InetAddress.getLocalHost().getHostName();
            } catch (UnknownHostException e) {
                return "localhost";
            }
        });
    }
}
