package io.wattlab.meter.daemon;

import io.wattlab.meter.config.MeterConfig;
import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.Reading;
import io.wattlab.meter.sensor.Sensor;
import io.wattlab.meter.sensor.SensorException;
import io.wattlab.meter.sensor.SensorStatus;
import io.wattlab.meter.sensor.estimate.EstimateSensor;
import io.wattlab.meter.sensor.nvml.NvmlSensor;
import io.wattlab.meter.sensor.rapl.RaplSensor;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/** Opens the sensors a configuration asks for, and fits the estimate around what is measured. */
public final class Sensors {

    private Sensors() {
    }

    /** Every configured sensor, available or not, measured ones first. */
    public static List<Sensor> open(MeterConfig config) {
        List<Sensor> sensors = new ArrayList<>();
        config.nvml().ifPresent(c -> sensors.add(NvmlSensor.open(c)));
        config.rapl().ifPresent(c -> sensors.add(new RaplSensor(c)));
        if (config.estimateMode() == MeterConfig.EstimateMode.NEVER) {
            return sensors;
        }
        Set<String> measured = new TreeSet<>();
        for (Sensor s : sensors) {
            s.status().channels().forEach(c -> measured.add(c.domain()));
        }
        // RAPL's dram zone is what the estimate calls ram.
        if (measured.contains("dram")) {
            measured.add("ram");
        }
        Sensor estimate = EstimateSensor.withOshi(config.estimate());
        if (config.estimateMode() == MeterConfig.EstimateMode.ALWAYS) {
            // Beside a measurement, an estimate of the same domain is for comparison: counting both would double the total.
            sensors.add(new Rewritten(estimate, c -> Optional.of(measured.contains(c.domain()) ? notInTotal(c) : c),
                    "estimated beside the measured domains " + measured + ", which it does not count in totals"));
        } else {
            sensors.add(new Rewritten(estimate, c -> measured.contains(c.domain()) ? Optional.empty() : Optional.of(c),
                    "only for the domains no sensor measures"));
        }
        return sensors;
    }

    private static Channel notInTotal(Channel c) {
        return new Channel(c.sensor(), c.domain(), c.device(), c.source(), false, c.attributes());
    }

    /**
     * A sensor whose channels are dropped or changed by a rule fixed when it is opened; with none
     * left it reads nothing and says why.
     */
    static final class Rewritten implements Sensor {
        private final Sensor inner;
        private final Map<String, Channel> channels = new HashMap<>();
        private final SensorStatus status;

        Rewritten(Sensor inner, Function<Channel, Optional<Channel>> rule, String note) {
            this.inner = inner;
            SensorStatus s = inner.status();
            List<Channel> kept = new ArrayList<>();
            for (Channel c : s.channels()) {
                rule.apply(c).ifPresent(r -> {
                    channels.put(c.key(), r);
                    kept.add(r);
                });
            }
            if (!s.available() || kept.equals(s.channels())) {
                this.status = s;
            } else if (kept.isEmpty()) {
                this.status = new SensorStatus(s.sensor(), false, s.source(),
                        "not needed: every domain it could estimate is measured (WATTLAB_ESTIMATE_MODE=always estimates them anyway)",
                        List.of());
            } else {
                this.status = new SensorStatus(s.sensor(), true, s.source(),
                        s.message() + (s.message().isEmpty() ? "" : "; ") + note, kept);
            }
        }

        @Override
        public String name() {
            return inner.name();
        }

        @Override
        public List<Reading> read(long timestampNanos) throws SensorException {
            List<Reading> out = new ArrayList<>();
            for (Reading r : inner.read(timestampNanos)) {
                Channel c = channels.get(r.channel().key());
                if (c != null) {
                    out.add(c == r.channel() ? r : new Reading(c, r.energyJoules(), r.powerWatts(), r.gauges()));
                }
            }
            return out;
        }

        @Override
        public SensorStatus status() {
            return status;
        }

        @Override
        public void close() {
            inner.close();
        }
    }
}
