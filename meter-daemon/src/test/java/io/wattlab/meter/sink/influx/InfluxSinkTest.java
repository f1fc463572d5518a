package io.wattlab.meter.sink.influx;

import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.Sample;
import io.wattlab.meter.sample.Source;
import io.wattlab.testing.Await;
import io.wattlab.testing.InfluxServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class InfluxSinkTest {

    static final Channel GPU = new Channel("nvml", "gpu", "0", Source.MEASURED, true);
    static final Channel CPU = new Channel("rapl", "cpu", "package-0", Source.MEASURED, true);
    static final Channel RAM = new Channel("estimate", "ram", "host", Source.ESTIMATED, true);
    static final long T0 = 1_700_000_000_123_456_789L;
    static final Duration DELIVERY = Duration.ofSeconds(10);

    InfluxServer influx;

    @TempDir
    Path spool;

    @BeforeAll
    void startInflux() {
        influx = InfluxServer.launch();
    }

    @AfterAll
    void stopInflux() {
        influx.close();
    }

    @Test
    void pointsLandWithExactTagsFieldsAndTimestamps() {
        InfluxConfig config = InfluxConfig.of(influx.url(), "exact", spool)
                .withStaticTags(Map.of("node", "gpu-node-7", "job", "resnet 50,fp16"));
        List<Sample> samples = List.of(
                new Sample(T0, GPU, 250.25, 1_000.5, Map.of("utilization_percent", 87.5, "memory_used_bytes", 1.5e9)),
                new Sample(T0 + 1, CPU, 65.125, 300.0),
                new Sample(T0 + 100_000_007L, RAM, 12.0, 4.75));
        try (InfluxSink sink = new InfluxSink(config, "test-host")) {
            sink.accept(samples);
        }

        List<InfluxServer.Row> power = influx.rows("exact", "SELECT * FROM power");
        assertEquals(List.of(
                row(T0, "nvml", "gpu", "0", "measured", "watts", 250.25),
                row(T0 + 1, "rapl", "cpu", "package-0", "measured", "watts", 65.125),
                row(T0 + 100_000_007L, "estimate", "ram", "host", "estimated", "watts", 12.0)), normalized(power));

        List<InfluxServer.Row> energy = influx.rows("exact", "SELECT * FROM energy");
        assertEquals(List.of(
                row(T0, "nvml", "gpu", "0", "measured", "joules", 1_000.5),
                row(T0 + 1, "rapl", "cpu", "package-0", "measured", "joules", 300.0),
                row(T0 + 100_000_007L, "estimate", "ram", "host", "estimated", "joules", 4.75)), normalized(energy));

        List<InfluxServer.Row> gauges = influx.rows("exact", "SELECT * FROM gauges");
        Map<String, Object> expectedGauges = row(T0, "nvml", "gpu", "0", "measured", "utilization_percent", 87.5);
        expectedGauges.put("memory_used_bytes", 1.5e9);
        assertEquals(List.of(expectedGauges), normalized(gauges), "only samples with gauges make a gauges point");

        List<InfluxServer.Row> fieldTypes = influx.rows("exact", "SHOW FIELD KEYS");
        assertTrue(fieldTypes.stream().allMatch(row -> "float".equals(row.values().get("fieldType"))),
                "every field is a float, so no later value can conflict: " + fieldTypes);
    }

    @Test
    void createsTheDatabaseOnFirstContact() {
        assertFalse(databases().contains("created_on_demand"));
        try (InfluxSink sink = new InfluxSink(InfluxConfig.of(influx.url(), "created_on_demand", spool))) {
            assertFalse(databases().contains("created_on_demand"), "constructing the sink does not contact InfluxDB");
            sink.accept(List.of(new Sample(T0, GPU, 100, 10)));
            Await.until(DELIVERY, () -> sink.status().pointsWritten() == 2, () -> sink.status().toString());
            InfluxSinkStatus status = sink.status();
            assertTrue(status.reachable());
            assertEquals(0, status.pointsSpooled());
            assertEquals(0, status.pointsDropped());
            assertEquals(null, status.lastError());
        }
        assertTrue(databases().contains("created_on_demand"));
    }

    @Test
    void closeWritesWhatIsStillQueued() {
        InfluxConfig config = InfluxConfig.of(influx.url(), "flushed_on_close", spool).withBatching(10_000, 60_000);
        InfluxSink sink = new InfluxSink(config, "test-host");
        List<Sample> samples = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            samples.add(new Sample(T0 + i * 1_000_000L, GPU, 100 + i, i));
        }
        sink.accept(samples);
        sink.close();
        assertEquals(100, sink.status().pointsWritten());
        assertEquals(50.0, influx.rows("flushed_on_close", "SELECT count(watts) FROM power").get(0).number("count"));
    }

    @Test
    void aSinkStartedWhileInfluxIsDownSpoolsAndDeliversLater() {
        try (InfluxServer late = new InfluxServer();
             InfluxSink sink = new InfluxSink(InfluxConfig.of(late.url(), "late", spool).withBatching(4, 50))) {
            List<Sample> samples = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                samples.add(new Sample(T0 + i * 100_000_000L, GPU, 200 + i, 20.0 * i));
            }
            sink.accept(samples);
            Await.until(DELIVERY, () -> sink.status().pointsSpooled() == 40, () -> sink.status().toString());
            InfluxSinkStatus down = sink.status();
            assertFalse(down.reachable());
            assertNotNull(down.lastError());
            assertTrue(down.spoolBytes() > 0);
            assertEquals(0, down.pointsWritten());

            late.start();
            Await.until(DELIVERY, () -> sink.status().pointsWritten() == 40, () -> sink.status().toString());
            assertEquals(0, sink.status().pointsSpooled());
            assertEquals(0, sink.status().spoolBytes());
            assertTrue(sink.status().reachable());
            List<InfluxServer.Row> rows = late.rows("late", "SELECT watts FROM power");
            assertEquals(samples.stream().map(Sample::timestampNanos).toList(),
                    rows.stream().map(InfluxServer.Row::timeNanos).toList());
            assertEquals(samples.stream().map(Sample::powerWatts).toList(),
                    rows.stream().map(row -> row.number("watts")).toList());
        }
    }

    @Test
    void theSpoolBoundDropsTheOldestPointsAndCountsThem() {
        int samples = 40;
        InfluxSinkStatus full;
        try (InfluxServer late = new InfluxServer()) {
            // One sample (two points) a batch, and room for about ten batches.
            InfluxConfig config = InfluxConfig.of(late.url(), "bounded", spool).withBatching(2, 10).withSpoolMaxBytes(2_500);
            try (InfluxSink sink = new InfluxSink(config, "test-host")) {
                for (int i = 0; i < samples; i++) {
                    sink.accept(List.of(new Sample(T0 + i * 100_000_000L, GPU, i, i)));
                }
                Await.until(DELIVERY, () -> sink.status().pointsSpooled() + sink.status().pointsDropped() == 2 * samples,
                        () -> sink.status().toString());
                full = sink.status();
                assertTrue(full.pointsDropped() > 0, full.toString());
                assertTrue(full.spoolBytes() <= 2_500, full.toString());
                assertTrue(full.lastError().contains("spool"), full.lastError());

                late.start();
                Await.until(DELIVERY, () -> sink.status().pointsSpooled() == 0, () -> sink.status().toString());
                assertEquals(full.pointsSpooled(), sink.status().pointsWritten());
                assertEquals(full.pointsDropped(), sink.status().pointsDropped());
            }
            long keptSamples = samples - full.pointsDropped() / 2;
            List<Long> newest = new ArrayList<>();
            for (long i = samples - keptSamples; i < samples; i++) {
                newest.add(T0 + i * 100_000_000L);
            }
            List<InfluxServer.Row> rows = late.rows("bounded", "SELECT watts FROM power");
            assertEquals(newest, rows.stream().map(InfluxServer.Row::timeNanos).toList(), "the newest points survive");
        }
    }

    @Test
    void aNewSinkTakesUpTheSpoolThatAnEarlierOneLeft() throws Exception {
        try (InfluxServer late = new InfluxServer()) {
            InfluxConfig config = InfluxConfig.of(late.url(), "restarted", spool).withBatching(4, 20);
            List<Sample> samples = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                samples.add(new Sample(T0 + i * 100_000_000L, CPU, 50 + i, i));
            }
            try (InfluxSink first = new InfluxSink(config, "test-host")) {
                first.accept(samples.subList(0, 10));
            }
            try (var files = Files.list(spool)) {
                assertTrue(files.findAny().isPresent(), "the first sink left its points in the spool");
            }

            late.start();
            try (InfluxSink second = new InfluxSink(config, "test-host")) {
                assertEquals(20, second.status().pointsSpooled(), "the spool is taken up at construction");
                second.accept(samples.subList(10, 20));
                Await.until(DELIVERY, () -> second.status().pointsWritten() == 40, () -> second.status().toString());
            }
            List<InfluxServer.Row> rows = late.rows("restarted", "SELECT watts FROM power");
            assertEquals(samples.stream().map(Sample::timestampNanos).toList(),
                    rows.stream().map(InfluxServer.Row::timeNanos).toList());
        }
    }

    @Test
    void pointsInfluxRejectsAreDroppedAndCountedWithoutBlockingLaterOnes() {
        influx.query(null, "CREATE DATABASE conflicting");
        // Once a shard holds watts as a string, float watts in the same shard are refused.
        influx.write("conflicting", "power,domain=gpu watts=\"not a number\" " + T0);
        InfluxConfig config = InfluxConfig.of(influx.url(), "conflicting", spool).withBatching(1_000, 20);
        try (InfluxSink sink = new InfluxSink(config, "test-host")) {
            sink.accept(List.of(new Sample(T0 + 1, GPU, 100, 1)));
            Await.until(DELIVERY, () -> sink.status().pointsDropped() == 1, () -> sink.status().toString());
            assertTrue(sink.status().lastError().contains("field type conflict"), sink.status().lastError());
            assertEquals(1, sink.status().pointsWritten(), "the energy point of the same batch was written");
            assertEquals(0, sink.status().pointsSpooled(), "a batch that cannot succeed is not kept for retries");

            // The conflict holds for the whole measurement, so CPU power is refused as well; the
            // energy points still go through, and nothing piles up in the spool.
            sink.accept(List.of(new Sample(T0 + 2, CPU, 50, 2), new Sample(T0 + 3, CPU, 50, 3)));
            Await.until(DELIVERY, () -> sink.status().pointsWritten() == 3, () -> sink.status().toString());
            assertEquals(3, sink.status().pointsDropped());
            assertEquals(0, sink.status().pointsSpooled());
        }
        assertEquals(2, influx.rows("conflicting", "SELECT joules FROM energy WHERE domain = 'cpu'").size());
    }

    private List<String> databases() {
        return influx.rows(null, "SHOW DATABASES").stream().map(row -> (String) row.values().get("name")).toList();
    }

    private static Map<String, Object> row(long timeNanos, String sensor, String domain, String device, String source,
                                           String field, double value) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("timeNanos", timeNanos);
        row.put("host", "test-host");
        row.put("node", "gpu-node-7");
        row.put("job", "resnet 50,fp16");
        row.put("sensor", sensor);
        row.put("domain", domain);
        row.put("device", device);
        row.put("source", source);
        row.put("in_total", "true");
        row.put(field, value);
        return row;
    }

    // SELECT * answers tags as columns; the order of columns does not matter here, the time does.
    private static List<Map<String, Object>> normalized(List<InfluxServer.Row> rows) {
        List<Map<String, Object>> normalized = new ArrayList<>();
        for (InfluxServer.Row row : rows) {
            Map<String, Object> values = new LinkedHashMap<>(row.values());
            values.remove("time");
            values.put("timeNanos", row.timeNanos());
            normalized.add(values);
        }
        return normalized;
    }
}
