package io.wattlab.meter.sensor.estimate;

import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.Reading;
import io.wattlab.meter.sample.Source;
import io.wattlab.meter.sensor.SensorException;
import org.junit.jupiter.api.Test;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EstimateSensorTest {

    private static final long T0 = 1_700_000_000_000_000_000L;
    private static final long ONE_SECOND = 1_000_000_000L;
    private static final long GIB = 1024L * 1024 * 1024;

    /** Utilization figures handed out in order, so that the model's arithmetic can be checked exactly. */
    private static CpuUtilizationSource fixed(double... shares) {
        Deque<Double> queue = new ArrayDeque<>();
        for (double share : shares) {
            queue.add(share);
        }
        return queue::remove;
    }

    @Test
    void cpuPowerIsLinearInUtilizationBetweenIdleAndMaxPerLogicalCpu() throws Exception {
        // 4 logical CPUs at 1 W idle and 3 W busy each: 4 W idle, 12 W busy for the host.
        EstimateSensor sensor = new EstimateSensor(EstimateConfig.perLogicalCpu(1, 3, 0.5),
                new HostShape(4, 16 * GIB), fixed(0.25, 0.75));

        List<Reading> first = sensor.read(T0);
        Reading cpu = first.get(0);
        assertEquals("estimate/cpu/host", cpu.channel().key());
        assertEquals(6.0, cpu.powerWatts(), 1e-12);   // 4 + (12 - 4) * 0.25
        assertEquals(25.0, cpu.gauges().get("utilization_percent"), 1e-12);
        assertEquals(0.0, cpu.energyJoules());

        Reading ram = first.get(1);
        assertEquals("estimate/ram/host", ram.channel().key());
        assertEquals(8.0, ram.powerWatts(), 1e-12);   // 16 GiB * 0.5 W/GiB

        List<Reading> second = sensor.read(T0 + 2 * ONE_SECOND);
        assertEquals(10.0, second.get(0).powerWatts(), 1e-12);   // 4 + 8 * 0.75
        assertEquals(16.0, second.get(0).energyJoules(), 1e-9);  // (6 + 10) / 2 * 2 s, by the trapezoid rule
        assertEquals(16.0, second.get(1).energyJoules(), 1e-9);  // 8 W for 2 s
    }

    @Test
    void totalsAreUsedAsTheyAreWhateverTheCpuCount() throws Exception {
        EstimateSensor sensor = new EstimateSensor(EstimateConfig.totals(20, 120, 0),
                new HostShape(64, 0), fixed(0.5));

        Reading cpu = sensor.read(T0).get(0);

        assertEquals(70.0, cpu.powerWatts(), 1e-12);
        assertEquals("20", cpu.channel().attributes().get("idle_watts"));
        assertEquals("120", cpu.channel().attributes().get("max_watts"));
        assertEquals("total", cpu.channel().attributes().get("basis"));
    }

    @Test
    void channelsAreEstimatedCountedInTotalsAndSayTheirModel() {
        EstimateSensor sensor = new EstimateSensor(EstimateConfig.defaults(), new HostShape(2, 8 * GIB), fixed());

        assertEquals(Source.ESTIMATED, sensor.status().source());
        assertTrue(sensor.status().available());
        Channel cpu = sensor.status().channels().get(0);
        Channel ram = sensor.status().channels().get(1);
        assertEquals(Map.of("model", "linear-utilization", "idle_watts", "1.48", "max_watts", "7",
                "basis", "per-logical-cpu", "logical_cpus", "2"), cpu.attributes());
        assertEquals(Map.of("model", "watts-per-gib", "watts_per_gib", "0.392", "memory_gib", "8"), ram.attributes());
        assertTrue(cpu.countedInTotal() && ram.countedInTotal());
        assertEquals(Source.ESTIMATED, cpu.source());
        assertEquals(Source.ESTIMATED, ram.source());
    }

    @Test
    void maxBelowIdleIsRejectedNamingBothFigures() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EstimateConfig.perLogicalCpu(5, 2, 0.392));
        assertTrue(e.getMessage().contains("max_watts (2.0)"), e.getMessage());
        assertTrue(e.getMessage().contains("idle_watts (5.0)"), e.getMessage());
    }

    @Test
    void negativeOrNonFiniteFiguresAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> EstimateConfig.totals(-1, 10, 0.392));
        assertThrows(IllegalArgumentException.class, () -> EstimateConfig.totals(1, Double.NaN, 0.392));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EstimateConfig.totals(1, 10, Double.POSITIVE_INFINITY));
        assertTrue(e.getMessage().contains("ram_watts_per_gib"), e.getMessage());
    }

    @Test
    void aUtilizationOutsideZeroToOneIsAReadError() {
        EstimateSensor sensor = new EstimateSensor(EstimateConfig.defaults(), new HostShape(2, GIB), fixed(1.5));

        SensorException e = assertThrows(SensorException.class, () -> sensor.read(T0));
        assertTrue(e.getMessage().contains("1.5"), e.getMessage());
    }
}
