package io.wattlab.meter.sink.influx;

import io.micronaut.context.ApplicationContext;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InfluxConfigTest {

    @Test
    void bindsFromMeterInfluxPropertiesWithDefaults() {
        Map<String, Object> properties = Map.of(
                "meter.influx.url", "http://influx.example:8086",
                "meter.influx.database", "wattlab",
                "meter.influx.spool-directory", "/var/lib/wattlab/spool",
                "meter.influx.static-tags.node", "gpu-node-7",
                "meter.influx.static-tags.job", "resnet");
        try (ApplicationContext context = ApplicationContext.run(properties)) {
            InfluxConfig config = context.getBean(InfluxConfig.class);
            assertEquals("http://influx.example:8086", config.url());
            assertEquals("wattlab", config.database());
            assertEquals(Path.of("/var/lib/wattlab/spool"), config.spoolDirectory());
            assertEquals(Map.of("node", "gpu-node-7", "job", "resnet"), config.staticTags());
            assertNull(config.username());
            assertNull(config.retentionPolicy());
            assertEquals(InfluxConfig.DEFAULT_BATCH_SIZE, config.batchSize());
            assertEquals(InfluxConfig.DEFAULT_FLUSH_INTERVAL_MILLIS, config.flushIntervalMillis());
            assertEquals(InfluxConfig.DEFAULT_SPOOL_MAX_BYTES, config.spoolMaxBytes());
        }
    }

    @Test
    void refusesAStaticTagThatWouldHideASampleTag() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> InfluxConfig.of("http://127.0.0.1:8086", "wattlab", Path.of("spool"))
                        .withStaticTags(Map.of("domain", "gpu")));
        assertTrue(error.getMessage().contains("'domain'"), error.getMessage());
    }

    @Test
    void refusesAUserWithoutPassword() {
        assertThrows(IllegalArgumentException.class, () -> new InfluxConfig("http://127.0.0.1:8086", "wattlab",
                "meter", null, null, 1000, 1000, Path.of("spool"), 1024, Map.of()));
    }

    @Test
    void leavesThePasswordOutOfItsText() {
        InfluxConfig config = new InfluxConfig("http://127.0.0.1:8086", "wattlab", "meter", "s3cret", null,
                1000, 1000, Path.of("spool"), 1024, Map.of());
        assertTrue(!config.toString().contains("s3cret"), config.toString());
    }
}
