package io.wattlab.meter.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.wattlab.meter.api.Protos;
import io.wattlab.meter.config.MeterConfig;
import io.wattlab.meter.config.Settings;
import io.wattlab.meter.daemon.MeterDaemon;
import io.wattlab.meter.daemon.Sensors;
import io.wattlab.meter.sample.MeterClock;
import io.wattlab.meter.sample.Sample;
import io.wattlab.meter.sensor.Sensor;
import io.wattlab.meter.sensor.SensorException;
import io.wattlab.meter.sensor.nvml.GpuProcess;
import io.wattlab.meter.sensor.nvml.NvmlSensor;
import io.wattlab.proto.v1.ProbeReport;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/** {@code meter-daemon probe}: the sensors found and one reading of each channel, as JSON. */
final class Probe {

    private Probe() {
    }

    static String run(Settings settings) {
        MeterConfig config = MeterConfig.from(settings);
        List<Sensor> sensors = Sensors.open(config);
        try (MeterDaemon daemon = new MeterDaemon(config.host(), new MeterClock(), sensors, config.intervals(),
                config.retention(), Optional.empty())) {
            // Counter-based power is a difference, so the reading printed is the second of two.
            daemon.sampleNow();
            sleep(config.intervals().values().stream().max(Duration::compareTo).orElse(MeterConfig.DEFAULT_INTERVAL));
            List<Sample> samples = daemon.sampleNow();
            ProbeReport.Builder report = ProbeReport.newBuilder().setStatus(Protos.status(daemon));
            samples.forEach(s -> report.addSamples(Protos.sample(s)));
            for (Sensor sensor : sensors) {
                if (sensor instanceof NvmlSensor nvml && sensor.status().available()) {
                    addProcesses(nvml, report);
                }
            }
            return JsonFormat.printer().print(report);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException("probe report cannot be printed as JSON", e);
        }
    }

    private static void addProcesses(NvmlSensor nvml, ProbeReport.Builder report) {
        try {
            for (GpuProcess p : nvml.computeProcesses()) {
                io.wattlab.proto.v1.GpuProcess.Builder b = io.wattlab.proto.v1.GpuProcess.newBuilder()
                        .setDevice(Integer.toString(p.deviceIndex()))
                        .setPid(p.pid());
                p.usedMemoryBytes().ifPresent(b::setUsedMemoryBytes);
                report.addGpuProcesses(b);
            }
        } catch (SensorException e) {
            System.err.println("meter-daemon probe: GPU processes: " + e.getMessage());
        }
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(Math.max(200, d.toMillis()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
