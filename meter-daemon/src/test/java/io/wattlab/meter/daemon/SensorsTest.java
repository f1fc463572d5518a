package io.wattlab.meter.daemon;

import io.wattlab.meter.config.MeterConfig;
import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.Reading;
import io.wattlab.meter.sensor.Sensor;
import io.wattlab.meter.sensor.SensorStatus;
import io.wattlab.meter.sensor.estimate.EstimateConfig;
import io.wattlab.meter.sensor.nvml.NvmlConfig;
import io.wattlab.meter.sensor.rapl.FakePowercap;
import io.wattlab.meter.sensor.rapl.RaplConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which sensors a configuration opens, and how the estimate fits around what RAPL measures. */
class SensorsTest {

    private static MeterConfig config(Path powercap, MeterConfig.EstimateMode mode) {
        return new MeterConfig("h", Duration.ofMinutes(1),
                Optional.of(NvmlConfig.ofLibrary("/nonexistent/libnvidia-ml.so.1")),
                Optional.of(new RaplConfig(powercap)), mode, EstimateConfig.defaults(),
                Map.of("nvml", Duration.ofMillis(100), "rapl", Duration.ofMillis(100), "estimate", Duration.ofMillis(100)),
                Optional.empty());
    }

    private static SensorStatus estimate(List<Sensor> sensors) {
        return sensors.stream().filter(s -> s.name().equals("estimate")).findFirst().orElseThrow().status();
    }

    @Test
    void withoutAnySensorTheEstimateCoversCpuAndRam() {
        List<Sensor> sensors = Sensors.open(config(Path.of("/nonexistent/powercap"), MeterConfig.EstimateMode.AUTO));
        assertEquals(List.of("nvml", "rapl", "estimate"), sensors.stream().map(Sensor::name).toList());
        assertEquals(List.of("cpu", "ram"), estimate(sensors).channels().stream().map(Channel::domain).toList());
        assertTrue(estimate(sensors).channels().stream().allMatch(Channel::countedInTotal));
    }

    @Test
    void whereRaplMeasuresPackageAndDramTheEstimateStepsAside() throws Exception {
        FakePowercap tree = FakePowercap.create();
        tree.zone("intel-rapl:0", "package-0", 0, 1_000_000_000L);
        tree.zone("intel-rapl:0:0", "dram", 0, 1_000_000_000L);
        SensorStatus auto = estimate(Sensors.open(config(tree.root, MeterConfig.EstimateMode.AUTO)));
        assertFalse(auto.available());
        assertTrue(auto.channels().isEmpty());
        assertTrue(auto.message().contains("WATTLAB_ESTIMATE_MODE=always"), auto.message());
    }

    @Test
    void whereRaplMeasuresOnlyThePackageTheEstimateKeepsRam() throws Exception {
        FakePowercap tree = FakePowercap.create();
        tree.zone("intel-rapl:0", "package-0", 0, 1_000_000_000L);
        List<Sensor> sensors = Sensors.open(config(tree.root, MeterConfig.EstimateMode.AUTO));
        Sensor estimate = sensors.get(2);
        assertEquals(List.of("ram"), estimate.status().channels().stream().map(Channel::domain).toList());
        List<Reading> readings = estimate.read(1_000_000_000L);
        assertEquals(List.of("ram"), readings.stream().map(r -> r.channel().domain()).toList());
    }

    @Test
    void anEstimateBesideAMeasurementIsNotCountedTwice() throws Exception {
        FakePowercap tree = FakePowercap.create();
        tree.zone("intel-rapl:0", "package-0", 0, 1_000_000_000L);
        List<Sensor> sensors = Sensors.open(config(tree.root, MeterConfig.EstimateMode.ALWAYS));
        Sensor estimate = sensors.get(2);
        Map<String, Boolean> inTotal = new java.util.TreeMap<>();
        for (Reading r : estimate.read(1_000_000_000L)) {
            inTotal.put(r.channel().domain(), r.channel().countedInTotal());
        }
        assertEquals(Map.of("cpu", false, "ram", true), inTotal);
        assertEquals(estimate.status().channels().size(), 2);
    }

    @Test
    void neverMeansNoEstimateAtAll() {
        List<Sensor> sensors = Sensors.open(config(Path.of("/nonexistent/powercap"), MeterConfig.EstimateMode.NEVER));
        assertEquals(List.of("nvml", "rapl"), sensors.stream().map(Sensor::name).toList());
    }
}
