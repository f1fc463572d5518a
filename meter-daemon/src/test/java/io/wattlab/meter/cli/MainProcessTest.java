package io.wattlab.meter.cli;

import com.google.protobuf.util.JsonFormat;
import io.wattlab.meter.sensor.rapl.FakePowercap;
import io.wattlab.proto.v1.ProbeReport;
import io.wattlab.proto.v1.Sample;
import io.wattlab.proto.v1.SensorStatus;
import io.wattlab.proto.v1.Source;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The command line as a user runs it: a separate JVM, configured by environment variables. */
class MainProcessTest {

    record Result(int exitCode, String stdout, String stderr) {
    }

    static Result run(Map<String, String> env, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().keySet().removeIf(k -> k.startsWith("WATTLAB_"));
        builder.environment().putAll(env);
        Path err = java.nio.file.Files.createTempFile("meter-stderr", ".txt");
        builder.redirectError(err.toFile());
        Process process = builder.start();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "meter-daemon did not exit");
        return new Result(process.exitValue(), out, java.nio.file.Files.readString(err));
    }

    @Test
    void aBadSettingStopsStartUpWithOneLineNamingTheVariableAndTheValue() throws Exception {
        Result r = run(Map.of("WATTLAB_METER_INTERVAL_MILLIS", "ten"), "serve");
        assertEquals(2, r.exitCode());
        assertEquals("meter-daemon: invalid configuration: wattlab.meter.interval-millis (WATTLAB_METER_INTERVAL_MILLIS)"
                + " = 'ten': expected a whole number greater than 0\n", r.stderr());

        Result url = run(Map.of("WATTLAB_INFLUX_URL", "influx:8086"), "serve");
        assertEquals(2, url.exitCode());
        assertEquals(1, url.stderr().lines().count(), url.stderr());
        assertTrue(url.stderr().contains("WATTLAB_INFLUX_URL") && url.stderr().contains("'influx:8086'"), url.stderr());

        Result mode = run(Map.of("WATTLAB_ESTIMATE_MODE", "sometimes"), "probe");
        assertEquals(2, mode.exitCode());
        assertTrue(mode.stderr().contains("'sometimes': expected one of auto, always, never"), mode.stderr());
    }

    @Test
    void probePrintsTheSensorsFoundAndOneReadingOfEachAsJson() throws Exception {
        FakePowercap powercap = FakePowercap.create();
        powercap.zone("intel-rapl:0", "package-0", 1_000_000, 262_143_328_850L);
        Result r = run(Map.of(
                "WATTLAB_RAPL_ROOT", powercap.root.toString(),
                "WATTLAB_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1"), "probe");
        assertEquals(0, r.exitCode(), r.stderr());

        ProbeReport.Builder report = ProbeReport.newBuilder();
        JsonFormat.parser().merge(r.stdout(), report);
        Map<String, SensorStatus> sensors = report.getStatus().getSensorsList().stream()
                .collect(Collectors.toMap(SensorStatus::getSensor, s -> s));
        assertFalse(sensors.get("nvml").getAvailable());
        assertTrue(sensors.get("nvml").getMessage().contains("/nonexistent/libnvidia-ml.so.1"), sensors.get("nvml").getMessage());
        assertTrue(sensors.get("rapl").getAvailable());
        // RAPL measures the package, so the estimate is left with RAM alone.
        assertEquals(List.of("ram"), sensors.get("estimate").getChannelsList().stream().map(c -> c.getDomain()).toList());
        Map<String, Sample> samples = report.getSamplesList().stream()
                .collect(Collectors.toMap(s -> s.getChannel().getSensor() + "/" + s.getChannel().getDomain(), s -> s));
        assertEquals(Source.SOURCE_MEASURED, samples.get("rapl/cpu").getChannel().getSource());
        assertEquals(Source.SOURCE_ESTIMATED, samples.get("estimate/ram").getChannel().getSource());
        assertTrue(samples.get("estimate/ram").getPowerWatts() > 0);
        assertEquals(2, samples.size(), samples.keySet().toString());
    }

    @Test
    void anUnknownCommandIsRefusedWithTheUsage() throws Exception {
        Result r = run(Map.of(), "measure");
        assertEquals(2, r.exitCode());
        assertTrue(r.stderr().startsWith("meter-daemon: unknown command 'measure'"), r.stderr());
        assertTrue(r.stderr().contains("probe"));
    }
}
