package io.wattlab.meter.sink.influx;

import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.MeterClock;
import io.wattlab.meter.sample.Sample;
import io.wattlab.meter.sample.Source;
import io.wattlab.meter.sensor.nvml.NvmlSensor;
import io.wattlab.testing.InfluxServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs every InfluxQL query of docs/influx-schema.md against influxd, on one minute of synthetic
 * samples at constant power written by {@link InfluxSink}, and checks the energy, power and
 * utilization they answer.
 */
class InfluxSchemaDocTest {

    static final Path DOC = Path.of("..", "docs", "influx-schema.md");
    static final long START_NANOS = MeterClock.toNanos(Instant.parse("2025-01-01T00:00:00Z"));
    static final int SAMPLES = 600;
    static final double INTERVAL_SECONDS = 0.1;
    // First to last sample: what the counter difference and the integral cover.
    static final double COVERED_SECONDS = (SAMPLES - 1) * INTERVAL_SECONDS;

    record Synthetic(Channel channel, double powerWatts, double utilizationPercent) {
    }

    static final List<Synthetic> CHANNELS = List.of(
            new Synthetic(new Channel("nvml", "gpu", "0", Source.MEASURED, true), 200, 75),
            new Synthetic(new Channel("nvml", "gpu", "1", Source.MEASURED, true), 150, 25),
            new Synthetic(new Channel("rapl", "cpu", "package-0", Source.MEASURED, true), 50, Double.NaN),
            // Inside the cpu package: a machine total that counted it would be 30 W too high.
            new Synthetic(new Channel("rapl", "core", "package-0", Source.MEASURED, false), 30, Double.NaN));

    @TempDir
    Path spool;

    @Test
    void everyQueryInTheDocRunsAndAnswersInItsUnits() throws IOException {
        List<String> queries = queries(Files.readString(DOC));
        assertTrue(queries.size() >= 6, "the doc shows its queries in ```sql blocks; found " + queries.size());

        try (InfluxServer influx = InfluxServer.launch()) {
            try (InfluxSink sink = new InfluxSink(InfluxConfig.of(influx.url(), "wattlab", spool), "node-a")) {
                sink.accept(samples());
            }
            for (String query : queries) {
                List<InfluxServer.Row> rows = influx.rows("wattlab", query);
                assertFalse(rows.isEmpty(), "no rows for\n" + query);
                int checked = 0;
                for (InfluxServer.Row row : rows) {
                    for (Map.Entry<String, Object> column : row.values().entrySet()) {
                        Double expected = switch (column.getKey()) {
                            case "energy_joules" -> powerWatts(row.tags()) * COVERED_SECONDS;
                            case "power_watts" -> powerWatts(row.tags());
                            case NvmlSensor.UTILIZATION_GPU_PERCENT -> utilizationPercent(row.tags());
                            default -> null;
                        };
                        if (expected != null) {
                            assertEquals(expected, row.number(column.getKey()), 1e-9 * expected,
                                    column.getKey() + " of " + row.tags() + " from\n" + query);
                            checked++;
                        }
                    }
                }
                assertTrue(checked > 0, "the doc's query answers no column named after its unit:\n" + query);
            }
        }
    }

    /** The power a row stands for: one device, the devices of a domain, or the machine's non-overlapping domains. */
    private static double powerWatts(Map<String, String> tags) {
        assertEquals("node-a", tags.get("host"), "every query groups by host: " + tags);
        return CHANNELS.stream()
                .filter(c -> !tags.containsKey("domain") ? c.channel().countedInTotal()
                        : c.channel().domain().equals(tags.get("domain")))
                .filter(c -> !tags.containsKey("device") || c.channel().device().equals(tags.get("device")))
                .mapToDouble(Synthetic::powerWatts)
                .sum();
    }

    private static double utilizationPercent(Map<String, String> tags) {
        return CHANNELS.stream()
                .filter(c -> c.channel().domain().equals("gpu") && c.channel().device().equals(tags.get("device")))
                .mapToDouble(Synthetic::utilizationPercent)
                .findFirst()
                .orElseThrow();
    }

    private static List<Sample> samples() {
        List<Sample> samples = new ArrayList<>();
        for (int i = 0; i < SAMPLES; i++) {
            long timestampNanos = START_NANOS + i * 100_000_000L;
            for (Synthetic synthetic : CHANNELS) {
                Map<String, Double> gauges = Double.isNaN(synthetic.utilizationPercent())
                        ? Map.of() : Map.of(NvmlSensor.UTILIZATION_GPU_PERCENT, synthetic.utilizationPercent());
                samples.add(new Sample(timestampNanos, synthetic.channel(), synthetic.powerWatts(),
                        synthetic.powerWatts() * INTERVAL_SECONDS * i, gauges));
            }
        }
        return samples;
    }

    private static List<String> queries(String markdown) {
        List<String> queries = new ArrayList<>();
        Matcher block = Pattern.compile("```sql\\n(.*?)```", Pattern.DOTALL).matcher(markdown);
        while (block.find()) {
            queries.add(block.group(1).strip());
        }
        return queries;
    }
}
