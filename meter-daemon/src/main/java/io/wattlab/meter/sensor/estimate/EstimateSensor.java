package io.wattlab.meter.sensor.estimate;

import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.Reading;
import io.wattlab.meter.sample.Source;
import io.wattlab.meter.sensor.PowerIntegrator;
import io.wattlab.meter.sensor.Sensor;
import io.wattlab.meter.sensor.SensorException;
import io.wattlab.meter.sensor.SensorStatus;
import oshi.SystemInfo;
import oshi.hardware.HardwareAbstractionLayer;

import java.io.IOException;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * CPU and RAM power estimated from CPU utilization and installed memory, for hosts where no sensor
 * measures them: {@code idle + (max - idle) * utilization} for the CPU, a constant per GiB for RAM.
 * Every number it gives is labelled {@link Source#ESTIMATED}; the model is in docs/estimate-model.md.
 */
public final class EstimateSensor implements Sensor {

    public static final String NAME = "estimate";

    private final CpuUtilizationSource utilization;
    private final double idleWatts;
    private final double maxWatts;
    private final double ramWatts;
    private final Channel cpuChannel;
    private final Channel ramChannel;
    private final PowerIntegrator cpuEnergy = new PowerIntegrator();
    private final PowerIntegrator ramEnergy = new PowerIntegrator();
    private final SensorStatus status;

    public EstimateSensor(EstimateConfig config, HostShape host, CpuUtilizationSource utilization) {
        this.utilization = utilization;
        this.idleWatts = config.idleWattsTotal(host.logicalCpus());
        this.maxWatts = config.maxWattsTotal(host.logicalCpus());
        this.ramWatts = config.ramWattsPerGib() * host.memoryGib();
        this.cpuChannel = new Channel(NAME, "cpu", "host", Source.ESTIMATED, true, Map.of(
                "model", "linear-utilization",
                "idle_watts", number(idleWatts),
                "max_watts", number(maxWatts),
                "basis", config.basis().tag(),
                "logical_cpus", Integer.toString(host.logicalCpus())));
        this.ramChannel = new Channel(NAME, "ram", "host", Source.ESTIMATED, true, Map.of(
                "model", "watts-per-gib",
                "watts_per_gib", number(config.ramWattsPerGib()),
                "memory_gib", number(host.memoryGib())));
        this.status = new SensorStatus(NAME, true, Source.ESTIMATED,
                "estimated from CPU utilization and installed memory, not measured (see docs/estimate-model.md)",
                List.of(cpuChannel, ramChannel));
    }

    /** An unavailable sensor, for where OSHI cannot describe the host. */
    private EstimateSensor(String message) {
        this.utilization = null;
        this.idleWatts = 0;
        this.maxWatts = 0;
        this.ramWatts = 0;
        this.cpuChannel = null;
        this.ramChannel = null;
        this.status = SensorStatus.unavailable(NAME, Source.ESTIMATED, message);
    }

    /**
     * The estimate for this host, with CPU count and memory from OSHI, and utilization from
     * {@code /proc/stat} where there is one (Linux), else from OSHI.
     */
    public static EstimateSensor withOshi(EstimateConfig config) {
        HardwareAbstractionLayer hardware;
        try {
            hardware = new SystemInfo().getHardware();
            CpuUtilizationSource utilization;
            try {
                utilization = ProcStatCpuUtilization.open();
            } catch (IOException notLinux) {
                utilization = new OshiCpuUtilization(hardware.getProcessor());
            }
            return new EstimateSensor(config, HostShape.of(hardware), utilization);
        } catch (RuntimeException | LinkageError e) {
            // OSHI throws for operating systems it does not support and when JNA cannot load.
            return new EstimateSensor("OSHI cannot describe this host (" + e + "), so there is nothing to estimate from");
        }
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public List<Reading> read(long timestampNanos) throws SensorException {
        if (!status.available()) {
            return List.of();
        }
        double share = utilization.utilizationSinceLastCall();
        if (!(share >= 0 && share <= 1)) {
            throw new SensorException("estimate: the CPU utilization source gave " + share + ", not a fraction from 0 to 1");
        }
        double cpuWatts = idleWatts + (maxWatts - idleWatts) * share;
        return List.of(
                new Reading(cpuChannel, cpuEnergy.add(timestampNanos, cpuWatts), cpuWatts,
                        Map.of("utilization_percent", share * 100)),
                new Reading(ramChannel, ramEnergy.add(timestampNanos, ramWatts), ramWatts));
    }

    @Override
    public SensorStatus status() {
        return status;
    }

    @Override
    public void close() {
        if (utilization instanceof AutoCloseable closeable) {
            try {
                closeable.close();
            } catch (Exception ignored) {
                // A read-only file: closing it loses nothing.
            }
        }
    }

    private static String number(double value) {
        // Enough digits to reproduce the figure, without binary noise such as 1.4800000000000002.
        return String.format(Locale.ROOT, "%.6g", value).replaceAll("\\.?0+$", "");
    }
}
