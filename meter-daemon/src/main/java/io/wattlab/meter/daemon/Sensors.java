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
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/** Opens the sensors a configuration asks for, and decides where the estimate is needed. */
public final class Sensors {

    /** The domains the estimate can stand in for. */
    static final Set<String> ESTIMATED_DOMAINS = Set.of("cpu", "ram");

    private Sensors() {
    }

    /** Every configured sensor, available or not, measured ones first. */
    public static List<Sensor> open(MeterConfig config) {
        List<Sensor> sensors = new ArrayList<>();
        config.nvml().ifPresent(c -> sensors.add(NvmlSensor.open(c)));
        config.rapl().ifPresent(c -> sensors.add(new RaplSensor(c)));
        switch (config.estimateMode()) {
            case NEVER -> {
            }
            case ALWAYS -> sensors.add(EstimateSensor.withOshi(config.estimate()));
            case AUTO -> {
                Set<String> measured = new TreeSet<>();
                for (Sensor s : sensors) {
                    s.status().channels().forEach(c -> measured.add(c.domain()));
                }
                // RAPL's dram zone covers what the estimate calls ram.
                if (measured.contains("dram")) {
                    measured.add("ram");
                }
                Set<String> wanted = new TreeSet<>(ESTIMATED_DOMAINS);
                wanted.removeAll(measured);
                Sensor estimate = EstimateSensor.withOshi(config.estimate());
                sensors.add(wanted.equals(ESTIMATED_DOMAINS) ? estimate : new Restricted(estimate, wanted,
                        "cpu and ram are measured by a sensor (WATTLAB_ESTIMATE_MODE=always estimates them anyway)"));
            }
        }
        return sensors;
    }

    /** A sensor reduced to some of its domains; with none left it reads nothing and says why. */
    static final class Restricted implements Sensor {
        private final Sensor inner;
        private final Set<String> domains;
        private final SensorStatus status;

        Restricted(Sensor inner, Set<String> domains, String whyNone) {
            this.inner = inner;
            this.domains = Set.copyOf(domains);
            SensorStatus s = inner.status();
            if (!s.available()) {
                this.status = s;
                return;
            }
            List<Channel> kept = s.channels().stream().filter(c -> domains.contains(c.domain())).toList();
            String message = kept.isEmpty() ? whyNone
                    : s.message() + (s.message().isEmpty() ? "" : "; ") + "only for " + String.join(", ", new TreeSet<>(domains))
                    + ", which no sensor measures";
            this.status = new SensorStatus(s.sensor(), !kept.isEmpty(), s.source(), message, kept);
        }

        @Override
        public String name() {
            return inner.name();
        }

        @Override
        public List<Reading> read(long timestampNanos) throws SensorException {
            return inner.read(timestampNanos).stream().filter(r -> domains.contains(r.channel().domain())).toList();
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
