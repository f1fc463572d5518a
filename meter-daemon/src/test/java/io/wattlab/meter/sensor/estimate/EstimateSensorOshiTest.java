package io.wattlab.meter.sensor.estimate;

import io.wattlab.meter.sample.MeterClock;
import io.wattlab.meter.sample.Reading;
import org.junit.jupiter.api.Test;
import oshi.SystemInfo;
import oshi.hardware.HardwareAbstractionLayer;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The estimate on this machine's own CPU, read through OSHI while the test keeps every CPU it may use busy. */
class EstimateSensorOshiTest {

    @Test
    void busyCpusRaiseTheEstimateAboveIdle() throws Exception {
        HardwareAbstractionLayer hardware = new SystemInfo().getHardware();
        HostShape host = HostShape.of(hardware);
        EstimateConfig config = EstimateConfig.defaults();
        EstimateSensor sensor = EstimateSensor.withOshi(config);
        assertTrue(sensor.status().available(), sensor.status().message());
        MeterClock clock = new MeterClock();
        sensor.read(clock.nowNanos());

        int threads = Runtime.getRuntime().availableProcessors();
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> spinners = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            Thread spinner = new Thread(() -> {
                // Reading the volatile flag on every turn keeps the loop from being optimised away.
                while (!stop.get()) {
                    Thread.onSpinWait();
                }
            }, "estimate-test-spinner-" + i);
            spinner.start();
            spinners.add(spinner);
        }
        try {
            Thread.sleep(1500);
        } finally {
            stop.set(true);
            for (Thread spinner : spinners) {
                spinner.join();
            }
        }
        Reading cpu = sensor.read(clock.nowNanos()).get(0);

        double idle = config.idleWattsTotal(host.logicalCpus());
        double max = config.maxWattsTotal(host.logicalCpus());
        double percent = cpu.gauges().get("utilization_percent");
        // The spinners alone fill `threads` of the host's logical CPUs; half of that share is a floor that
        // still holds when the JVM is limited to fewer CPUs than the host has, or shares them with others.
        double floorPercent = 50.0 * threads / host.logicalCpus();
        assertTrue(percent >= floorPercent, "utilization " + percent + " % while " + threads + " of "
                + host.logicalCpus() + " logical CPUs spun");
        assertTrue(cpu.powerWatts() > idle, cpu.powerWatts() + " W should be above the idle " + idle + " W");
        assertEquals(idle + (max - idle) * percent / 100, cpu.powerWatts(), 1e-9);
        assertTrue(cpu.energyJoules() > idle * 1.4, "at least idle power over the ~1.5 s: " + cpu.energyJoules());
    }
}
