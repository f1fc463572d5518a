package io.wattlab.meter.config;

import io.micronaut.context.env.PropertySource;
import io.micronaut.context.env.DefaultEnvironment;
import io.micronaut.context.env.Environment;
import io.micronaut.context.ApplicationContextConfiguration;
import io.wattlab.meter.sensor.estimate.EstimateConfig;
import io.wattlab.meter.sensor.nvml.NvmlConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MeterConfigTest {

    private static MeterConfig parse(Map<String, Object> properties) {
        Environment environment = new DefaultEnvironment(new ApplicationContextConfiguration() {
            @Override
            public List<String> getEnvironments() {
                return List.of("test");
            }
        });
        environment.addPropertySource(PropertySource.of("test", new HashMap<>(properties)));
        environment.start();
        try {
            return MeterConfig.from(new Settings(environment));
        } finally {
            environment.stop();
        }
    }

    @Test
    void defaultsSampleEverySensorAt10HertzWithNoInfluxDb() {
        MeterConfig config = parse(Map.of());
        assertEquals(Map.of("nvml", Duration.ofMillis(100), "rapl", Duration.ofMillis(100), "estimate", Duration.ofMillis(100)),
                config.intervals());
        assertTrue(config.influx().isEmpty());
        assertTrue(config.nvml().isPresent() && config.rapl().isPresent());
        assertEquals(MeterConfig.EstimateMode.AUTO, config.estimateMode());
        assertEquals(EstimateConfig.defaults(), config.estimate());
        assertEquals(Duration.ofHours(1), config.retention());
        assertEquals(1000, config.nvml().orElseThrow().gaugeIntervalMillis());
    }

    @Test
    void theGpuGaugeIntervalIsItsOwnSetting() {
        MeterConfig config = parse(Map.of("wattlab.nvml.gauge-interval-millis", "5000", "wattlab.nvml.library", "/opt/libnvidia-ml.so.1"));
        assertEquals(new NvmlConfig(Optional.of("/opt/libnvidia-ml.so.1"), 5000), config.nvml().orElseThrow());
        assertTrue(assertThrows(ConfigException.class, () -> parse(Map.of("wattlab.nvml.gauge-interval-millis", "0")))
                .getMessage().contains("(WATTLAB_NVML_GAUGE_INTERVAL_MILLIS) = '0'"));
    }

    @Test
    void everyKeyIsRead() {
        MeterConfig config = parse(Map.ofEntries(
                Map.entry("wattlab.meter.interval-millis", "250"),
                Map.entry("wattlab.rapl.interval-millis", "50"),
                Map.entry("wattlab.meter.retention-seconds", "600"),
                Map.entry("wattlab.nvml.enabled", "false"),
                Map.entry("wattlab.rapl.root", "/tmp/powercap"),
                Map.entry("wattlab.estimate.mode", "always"),
                Map.entry("wattlab.estimate.cpu-idle-watts", "40"),
                Map.entry("wattlab.estimate.cpu-max-watts", "120"),
                Map.entry("wattlab.estimate.ram-watts-per-gib", "0.5"),
                Map.entry("wattlab.influx.url", "http://127.0.0.1:8086"),
                Map.entry("wattlab.influx.database", "energy"),
                Map.entry("wattlab.influx.spool-dir", "/tmp/spool"),
                Map.entry("wattlab.influx.tags", "node=n1, job=resnet"),
                Map.entry("wattlab.tags.pod", "trainer-0"),
                Map.entry("wattlab.host", "gpu-7")));
        assertEquals(Duration.ofMillis(250), config.intervals().get("nvml"));
        assertEquals(Duration.ofMillis(50), config.intervals().get("rapl"));
        assertEquals(Duration.ofMinutes(10), config.retention());
        assertTrue(config.nvml().isEmpty());
        assertEquals(Path.of("/tmp/powercap"), config.rapl().orElseThrow().root());
        assertEquals(MeterConfig.EstimateMode.ALWAYS, config.estimateMode());
        assertEquals(EstimateConfig.totals(40, 120, 0.5), config.estimate());
        assertEquals("energy", config.influx().orElseThrow().database());
        assertEquals(Path.of("/tmp/spool"), config.influx().orElseThrow().spoolDirectory());
        assertEquals(Map.of("node", "n1", "job", "resnet", "pod", "trainer-0"), config.influx().orElseThrow().staticTags());
        assertEquals("gpu-7", config.host());
    }

    @Test
    void badValuesNameTheKeyTheVariableAndTheValue() {
        assertEquals("invalid configuration: wattlab.meter.retention-seconds (WATTLAB_METER_RETENTION_SECONDS) = '-5':"
                        + " expected a whole number greater than 0",
                assertThrows(ConfigException.class, () -> parse(Map.of("wattlab.meter.retention-seconds", "-5"))).getMessage());
        assertTrue(assertThrows(ConfigException.class, () -> parse(Map.of("wattlab.nvml.enabled", "maybe")))
                .getMessage().contains("(WATTLAB_NVML_ENABLED) = 'maybe': expected true or false"));
        assertTrue(assertThrows(ConfigException.class, () -> parse(Map.of(
                "wattlab.estimate.cpu-idle-watts-per-cpu", "5", "wattlab.estimate.cpu-max-watts-per-cpu", "2")))
                .getMessage().contains("wattlab.estimate.cpu-max-watts-per-cpu (WATTLAB_ESTIMATE_CPU_MAX_WATTS_PER_CPU) = '2'"));
        assertTrue(assertThrows(ConfigException.class, () -> parse(Map.of("wattlab.estimate.cpu-idle-watts", "30")))
                .getMessage().contains("wattlab.estimate.cpu-max-watts (WATTLAB_ESTIMATE_CPU_MAX_WATTS) is missing"));
        assertTrue(assertThrows(ConfigException.class, () -> parse(Map.of(
                "wattlab.influx.url", "http://x:8086", "wattlab.influx.tags", "node")))
                .getMessage().contains("(WATTLAB_INFLUX_TAGS) = 'node'"));
        assertTrue(assertThrows(ConfigException.class, () -> parse(Map.of(
                "wattlab.influx.url", "http://x:8086", "wattlab.influx.username", "meter")))
                .getMessage().contains("WATTLAB_INFLUX_PASSWORD"));
        assertTrue(assertThrows(ConfigException.class, () -> parse(Map.of(
                "wattlab.influx.url", "http://x:8086", "wattlab.influx.tags", "sensor=x")))
                .getMessage().contains("'sensor'"));
    }
}
