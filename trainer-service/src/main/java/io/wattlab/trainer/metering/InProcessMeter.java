package io.wattlab.trainer.metering;

import io.micronaut.core.value.PropertyResolver;
import io.wattlab.meter.api.Protos;
import io.wattlab.meter.config.MeterConfig;
import io.wattlab.meter.config.Settings;
import io.wattlab.meter.daemon.MeterDaemon;
import io.wattlab.meter.ledger.WindowBook;
import io.wattlab.meter.sensor.SensorStatus;
import io.wattlab.proto.v1.WindowEnergy;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The meter's own sensors running inside the trainer: a {@link MeterDaemon} built from the same
 * configuration keys as meter-daemon, so that {@code WATTLAB_INFLUX_URL} makes it write the
 * {@code power}/{@code energy} series to InfluxDB exactly as the daemon would.
 */
public final class InProcessMeter implements EnergyMeter {

    /**
     * How often the in-process meter samples where {@code wattlab.meter.interval-millis} is not set:
     * every second, where meter-daemon samples every 100 ms. The meter shares the processors with the
     * training it measures; on a 2-vCPU machine whose cores the training takes, sampling every 100 ms
     * cost 1.2 % of training throughput (median, 95 % interval 0.06 % to 2.2 %) and every second
     * nothing measurable (−0.4 %, −2.3 % to 0.6 %; docs/BENCHMARKS.md). A window's energy does not
     * depend on the interval (windows read the cumulative counters at their edges); peak power is
     * then the highest one-second mean, and the InfluxDB power series has one point a second.
     */
    public static final Duration DEFAULT_INTERVAL = Duration.ofSeconds(1);

    private final MeterDaemon daemon;
    private final boolean owned;

    /** Wraps a running daemon that someone else closes. */
    public InProcessMeter(MeterDaemon daemon) {
        this(daemon, false);
    }

    private InProcessMeter(MeterDaemon daemon, boolean owned) {
        this.daemon = daemon;
        this.owned = owned;
    }

    /**
     * Opens the configured sensors and starts sampling, every {@link #DEFAULT_INTERVAL} unless
     * configured otherwise; {@link #close()} stops them.
     */
    public static InProcessMeter start(PropertyResolver configuration) {
        MeterConfig config = MeterConfig.from(new Settings(configuration), DEFAULT_INTERVAL);
        MeterDaemon daemon = MeterDaemon.open(config);
        return new InProcessMeter(daemon.start(), true);
    }

    public MeterDaemon daemon() {
        return daemon;
    }

    @Override
    public Window begin(Map<String, String> labels) {
        MeterDaemon.OpenedWindow opened = daemon.beginWindow(labels);
        return new Window(opened.id(), opened.startNanos());
    }

    @Override
    public WindowEnergy end(Window window) {
        Optional<WindowBook.ClosedWindow> closed = daemon.endWindow(window.id());
        WindowBook.ClosedWindow c = closed.orElseThrow(() -> new MeteringException(
                "in-process meter has no open window " + window.id() + " (already ended?)"));
        return Protos.windowEnergy(c.id(), c.labels(), c.energy());
    }

    @Override
    public String describe() {
        String sensors = daemon.sensorStatuses().stream().filter(SensorStatus::available)
                .map(s -> s.sensor() + " (" + s.channels().size() + " channel" + (s.channels().size() == 1 ? "" : "s") + ")")
                .collect(Collectors.joining(", "));
        return "in-process meter, sensors: " + (sensors.isEmpty() ? "none available" : sensors)
                + daemon.influxStatus().map(s -> ", writing to InfluxDB").orElse("");
    }

    @Override
    public void close() {
        if (owned) {
            daemon.close();
        }
    }
}
