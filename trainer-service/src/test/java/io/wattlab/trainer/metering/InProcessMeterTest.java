package io.wattlab.trainer.metering;

import io.micronaut.context.env.PropertySource;
import io.micronaut.context.env.PropertySourcePropertyResolver;
import io.wattlab.meter.sampler.Sampler;
import io.wattlab.proto.v1.WindowEnergy;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The in-process meter's sampling interval, and windows shorter than it, on this machine's own sensors. */
class InProcessMeterTest {

    @Test
    void samplesEverySecondUnlessConfiguredAndWindowsShorterThanThatStillMeasure() throws Exception {
        try (InProcessMeter meter = InProcessMeter.start(resolver(Map.of()))) {
            assertFalse(meter.daemon().runtimes().isEmpty(), "some sensor runs here (the estimate at least)");
            for (Sampler.SensorRuntime r : meter.daemon().runtimes()) {
                assertEquals(InProcessMeter.DEFAULT_INTERVAL, r.interval(), r.sensor().name());
            }
            // A window read only at its edges: its energy comes from the counters there, not from
            // scheduled samples inside it.
            EnergyMeter.Window window = meter.begin(Map.of("run_id", "short"));
            Thread.sleep(300);
            WindowEnergy energy = meter.end(window);
            assertTrue(energy.getDurationSeconds() >= 0.3 && energy.getDurationSeconds() < 1, energy.toString());
            assertTrue(energy.getChannelsCount() > 0 && energy.getTotalEnergyJoules() > 0, energy.toString());
        }
        try (InProcessMeter meter = InProcessMeter.start(resolver(Map.of("wattlab.meter.interval-millis", "250")))) {
            for (Sampler.SensorRuntime r : meter.daemon().runtimes()) {
                assertEquals(Duration.ofMillis(250), r.interval(), r.sensor().name());
            }
        }
    }

    private static PropertySourcePropertyResolver resolver(Map<String, Object> properties) {
        return new PropertySourcePropertyResolver(PropertySource.of("test", properties));
    }
}
