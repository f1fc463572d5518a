package io.wattlab.meter.sensor.nvml;

import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.Reading;
import io.wattlab.meter.sample.Source;
import io.wattlab.meter.sensor.SensorException;
import io.wattlab.meter.sensor.SensorStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NvmlSensorTest {

    private static final String A100_UUID = "GPU-6d1a0f2c-8b3e-4f5a-9c7d-0e1f2a3b4c5d";
    private static final String P100_UUID = "GPU-0b9e7c6d-5a4f-4e3d-8c2b-1a0f9e8d7c6b";
    private static final long T0_NANOS = 1_700_000_000_000_000_000L;
    private static final int A100_PROCESSES = 20;

    /**
     * Two GPUs: an A100 with the total-energy counter and a busy process list, and a P100 (Pascal,
     * before the counter) that offers neither a power limit nor utilization.
     */
    private static String twoGpus(long a100EnergyMillijoules, long a100PowerMilliwatts, long p100PowerMilliwatts) {
        StringBuilder text = new StringBuilder("""
                device
                name NVIDIA A100-SXM4-40GB
                uuid %s
                energy_mj %d
                power_mw %d
                power_limit_mw 400000
                utilization 87 45
                memory 42949672960 10737418240 32212254720
                """.formatted(A100_UUID, a100EnergyMillijoules, a100PowerMilliwatts));
        for (int i = 0; i < A100_PROCESSES; i++) {
            text.append("process ").append(4000 + i).append(' ').append((i + 1) * 1_048_576L).append('\n');
        }
        text.append("""
                device
                name Tesla P100-PCIE-16GB
                uuid %s
                energy_mj unsupported
                power_mw %d
                power_limit_mw unsupported
                utilization unsupported
                memory 17071734784 16000000000 1071734784
                process 7001 536870912
                process 7002 18446744073709551615
                """.formatted(P100_UUID, p100PowerMilliwatts));
        return text.toString();
    }

    @Test
    void findsEveryGpuWithItsIndexNameAndUuid() {
        FakeNvml fake = FakeNvml.current().reset(twoGpus(1_000_000, 250_000, 100_000));

        try (NvmlSensor sensor = NvmlSensor.open(fake.config())) {
            SensorStatus status = sensor.status();
            assertTrue(status.available());
            assertEquals("nvml", sensor.name());
            assertEquals(Source.MEASURED, status.source());
            assertEquals(List.of(
                    new Channel("nvml", "gpu", "0", Source.MEASURED, true, Map.of(
                            "name", "NVIDIA A100-SXM4-40GB", "uuid", A100_UUID,
                            "energy_source", "total_energy_counter")),
                    new Channel("nvml", "gpu", "1", Source.MEASURED, true, Map.of(
                            "name", "Tesla P100-PCIE-16GB", "uuid", P100_UUID,
                            "energy_source", "power_integration"))), status.channels());
            // Only the older GPU is worth a word: its energy is coarser.
            assertTrue(status.message().startsWith("GPU 1 (Tesla P100-PCIE-16GB, " + P100_UUID + ") has no total-energy counter"),
                    status.message());
            assertTrue(status.message().contains("Not Supported"), status.message());
            assertFalse(status.message().contains("GPU 0"), status.message());
        }
    }

    @Test
    void energyComesFromTheCounterInExactJoulesSinceTheFirstRead() throws SensorException {
        FakeNvml fake = FakeNvml.current().reset(twoGpus(1_000_000, 250_000, 100_000));

        try (NvmlSensor sensor = NvmlSensor.open(fake.config())) {
            Reading first = sensor.read(T0_NANOS).get(0);
            fake.write(twoGpus(1_250_500, 262_125, 100_000));
            Reading second = sensor.read(T0_NANOS + 1_000_000_000L).get(0);
            fake.write(twoGpus(1_400_000, 150_000, 100_000));
            Reading third = sensor.read(T0_NANOS + 2_000_000_000L).get(0);

            assertEquals("nvml/gpu/0", first.channel().key());
            assertEquals(0.0, first.energyJoules());
            assertEquals(250.0, first.powerWatts());
            assertEquals(250.5, second.energyJoules());
            assertEquals(262.125, second.powerWatts());
            assertEquals(400.0, third.energyJoules());
            assertEquals(150.0, third.powerWatts());
        }
    }

    @Test
    void aGpuWithoutTheCounterIntegratesPowerByTheTrapezoidRule() throws SensorException {
        FakeNvml fake = FakeNvml.current().reset(twoGpus(1_000_000, 250_000, 100_000));

        try (NvmlSensor sensor = NvmlSensor.open(fake.config())) {
            Reading first = sensor.read(T0_NANOS).get(1);
            fake.write(twoGpus(1_000_000, 250_000, 200_000));
            Reading second = sensor.read(T0_NANOS + 1_500_000_000L).get(1);
            fake.write(twoGpus(1_000_000, 250_000, 140_000));
            Reading third = sensor.read(T0_NANOS + 2_000_000_000L).get(1);

            assertEquals("nvml/gpu/1", first.channel().key());
            assertEquals(0.0, first.energyJoules());
            assertEquals(100.0, first.powerWatts());
            // (100 W + 200 W) / 2 * 1.5 s = 225 J
            assertEquals(225.0, second.energyJoules());
            assertEquals(200.0, second.powerWatts());
            // 225 J + (200 W + 140 W) / 2 * 0.5 s = 310 J
            assertEquals(310.0, third.energyJoules());
        }
    }

    @Test
    void gaugesCarryTheirUnitsAndLeaveOutWhatTheGpuDoesNotOffer() throws SensorException {
        FakeNvml fake = FakeNvml.current().reset(twoGpus(1_000_000, 250_000, 100_000));

        try (NvmlSensor sensor = NvmlSensor.open(fake.config())) {
            List<Reading> readings = sensor.read(T0_NANOS);

            assertEquals(Map.of(
                    "power_limit_watts", 400.0,
                    "utilization_gpu_percent", 87.0,
                    "utilization_memory_percent", 45.0,
                    "memory_used_bytes", 32_212_254_720.0,
                    "memory_total_bytes", 42_949_672_960.0,
                    "compute_processes", 20.0), readings.get(0).gauges());
            assertEquals(Map.of(
                    "memory_used_bytes", 1_071_734_784.0,
                    "memory_total_bytes", 17_071_734_784.0,
                    "compute_processes", 2.0), readings.get(1).gauges());
        }
    }

    @Test
    void gaugesAreReadOnceAnIntervalAndCarriedInBetweenWhileEnergyAndPowerAreReadEveryTime() throws SensorException {
        FakeNvml fake = FakeNvml.current().reset(twoGpus(1_000_000, 250_000, 100_000));
        String busier = twoGpus(1_100_000, 300_000, 100_000)
                .replace("power_limit_mw 400000", "power_limit_mw 350000")
                .replace("utilization 87 45", "utilization 12 3")
                .replace("memory 42949672960 10737418240 32212254720", "memory 42949672960 32212254720 10737418240");

        try (NvmlSensor sensor = NvmlSensor.open(fake.config().withGaugeIntervalMillis(1000))) {
            Map<String, Double> before = sensor.read(T0_NANOS).get(0).gauges();
            fake.write(busier);
            Reading carried = sensor.read(T0_NANOS + 100_000_000L).get(0);
            Reading stillCarried = sensor.read(T0_NANOS + 999_999_999L).get(0);
            Reading refreshed = sensor.read(T0_NANOS + 1_000_000_000L).get(0);
            fake.write(twoGpus(1_200_000, 250_000, 100_000));
            Reading carriedAgain = sensor.read(T0_NANOS + 1_500_000_000L).get(0);

            Map<String, Double> after = Map.of(
                    "power_limit_watts", 350.0,
                    "utilization_gpu_percent", 12.0,
                    "utilization_memory_percent", 3.0,
                    "memory_used_bytes", 10_737_418_240.0,
                    "memory_total_bytes", 42_949_672_960.0,
                    "compute_processes", 20.0);
            assertEquals(400.0, before.get("power_limit_watts"));
            assertEquals(87.0, before.get("utilization_gpu_percent"));
            assertEquals(before, carried.gauges());
            assertEquals(before, stillCarried.gauges());
            assertEquals(after, refreshed.gauges());
            assertEquals(after, carriedAgain.gauges());
            // Energy and power do not wait for the gauges.
            assertEquals(100.0, carried.energyJoules());
            assertEquals(300.0, carried.powerWatts());
            assertEquals(200.0, carriedAgain.energyJoules());
            assertEquals(250.0, carriedAgain.powerWatts());
        }
    }

    @Test
    void aGaugeIntervalOfZeroReadsTheGaugesEveryTime() throws SensorException {
        FakeNvml fake = FakeNvml.current().reset(twoGpus(1_000_000, 250_000, 100_000));

        try (NvmlSensor sensor = NvmlSensor.open(fake.config().withGaugeIntervalMillis(0))) {
            assertEquals(87.0, sensor.read(T0_NANOS).get(0).gauges().get("utilization_gpu_percent"));
            fake.write(twoGpus(1_000_000, 250_000, 100_000).replace("utilization 87 45", "utilization 12 3"));
            assertEquals(12.0, sensor.read(T0_NANOS + 1L).get(0).gauges().get("utilization_gpu_percent"));
        }
    }

    @Test
    void aClockThatGoesBackReadsTheGaugesAgain() throws SensorException {
        FakeNvml fake = FakeNvml.current().reset(twoGpus(1_000_000, 250_000, 100_000));

        try (NvmlSensor sensor = NvmlSensor.open(fake.config())) {
            assertEquals(1000, fake.config().gaugeIntervalMillis());
            assertEquals(87.0, sensor.read(T0_NANOS).get(0).gauges().get("utilization_gpu_percent"));
            fake.write(twoGpus(1_000_000, 250_000, 100_000).replace("utilization 87 45", "utilization 12 3"));
            assertEquals(87.0, sensor.read(T0_NANOS + 500_000_000L).get(0).gauges().get("utilization_gpu_percent"));
            assertEquals(12.0, sensor.read(T0_NANOS - 1_000_000_000L).get(0).gauges().get("utilization_gpu_percent"));
        }
    }

    @Test
    void listsComputeProcessesPastTheFirstBufferSize() throws SensorException {
        assertTrue(A100_PROCESSES > NvmlLibrary.INITIAL_PROCESS_CAPACITY,
                "the fake must have more processes than the first buffer holds, to make NVML answer INSUFFICIENT_SIZE");
        FakeNvml fake = FakeNvml.current().reset(twoGpus(1_000_000, 250_000, 100_000));

        try (NvmlSensor sensor = NvmlSensor.open(fake.config())) {
            assertEquals(expectedProcesses(), sensor.computeProcesses());
        }
    }

    @Test
    void anOldDriverWithoutTheCounterOrVersionedProcessCallsStillWorks() throws SensorException {
        FakeNvml fake = FakeNvml.of(FakeNvml.Driver.LEGACY).reset(twoGpus(1_000_000, 250_000, 100_000));

        try (NvmlSensor sensor = NvmlSensor.open(fake.config())) {
            assertEquals(List.of("power_integration", "power_integration"),
                    sensor.status().channels().stream().map(c -> c.attributes().get("energy_source")).toList());
            assertTrue(sensor.status().message().contains("GPU 0 (NVIDIA A100-SXM4-40GB, " + A100_UUID
                    + ") has no total-energy counter (nvmlDeviceGetTotalEnergyConsumption failed"), sensor.status().message());
            // The unversioned call fills two-field structs, 16 bytes apart rather than 24.
            assertEquals(expectedProcesses(), sensor.computeProcesses());
            assertEquals(250.0, sensor.read(T0_NANOS).get(0).powerWatts());
        }
    }

    @Test
    void aDriverOfThe535BranchIsReadWithItsWiderProcessEntries() throws SensorException {
        FakeNvml fake = FakeNvml.of(FakeNvml.Driver.R535).reset(twoGpus(1_000_000, 250_000, 100_000));

        try (NvmlSensor sensor = NvmlSensor.open(fake.config())) {
            // Its _v3 call fills 32-byte entries, where other drivers' _v3 fills 24-byte ones.
            assertEquals(expectedProcesses(), sensor.computeProcesses());
        }
    }

    private static List<GpuProcess> expectedProcesses() {
        List<GpuProcess> expected = new ArrayList<>();
        for (int i = 0; i < A100_PROCESSES; i++) {
            expected.add(new GpuProcess(0, 4000 + i, OptionalLong.of((i + 1) * 1_048_576L)));
        }
        expected.add(new GpuProcess(1, 7001, OptionalLong.of(536_870_912L)));
        expected.add(new GpuProcess(1, 7002, OptionalLong.empty()));
        return expected;
    }

    @Test
    void aFailedPowerReadNamesTheGpuAndNvmlsError() {
        FakeNvml fake = FakeNvml.current().reset(twoGpus(1_000_000, 250_000, 100_000));

        try (NvmlSensor sensor = NvmlSensor.open(fake.config())) {
            fake.write(twoGpus(1_000_000, 250_000, 100_000).replace("power_mw 100000", "power_mw error 15"));

            SensorException e = assertThrows(SensorException.class, () -> sensor.read(T0_NANOS));
            assertEquals("GPU 1 (Tesla P100-PCIE-16GB, " + P100_UUID + "): nvmlDeviceGetPowerUsage failed:"
                    + " GPU is lost (NVML error 15)", e.getMessage());
        }
    }

    @Test
    void aGpuWithoutPowerReadingsIsLeftOutAndNamed() {
        FakeNvml fake = FakeNvml.current().reset(twoGpus(1_000_000, 250_000, 100_000)
                .replace("power_mw 100000", "power_mw unsupported"));

        try (NvmlSensor sensor = NvmlSensor.open(fake.config())) {
            assertEquals(List.of("nvml/gpu/0"), sensor.status().channels().stream().map(Channel::key).toList());
            assertEquals("GPU 1 skipped: nvmlDeviceGetPowerUsage failed: Not Supported (NVML error 3)",
                    sensor.status().message());
        }
    }

    @Test
    void closeShutsNvmlDownOnce() {
        FakeNvml fake = FakeNvml.current().reset(twoGpus(1_000_000, 250_000, 100_000));

        NvmlSensor sensor = NvmlSensor.open(fake.config());
        assertEquals(1, fake.initRefcount());
        sensor.close();
        sensor.close();

        assertEquals(1, fake.shutdownCalls());
        assertEquals(0, fake.initRefcount());
        SensorException e = assertThrows(SensorException.class, () -> sensor.read(T0_NANOS));
        assertEquals("nvml sensor is closed", e.getMessage());
    }

    @Test
    void aMissingLibraryLeavesTheSensorEmptyAndNamesThePathTried() throws SensorException {
        String path = Path.of("target", "no-nvml-here", "libnvidia-ml.so.1").toAbsolutePath().toString();

        try (NvmlSensor sensor = NvmlSensor.open(NvmlConfig.ofLibrary(path))) {
            SensorStatus status = sensor.status();
            assertFalse(status.available());
            assertEquals(List.of(), status.channels());
            assertTrue(status.message().startsWith("NVML could not be loaded: tried " + path + " ("), status.message());
            assertTrue(status.message().contains("set WATTLAB_NVML_LIBRARY to the full path"), status.message());
            assertEquals(List.of(), sensor.read(T0_NANOS));
            assertEquals(List.of(), sensor.computeProcesses());
        }
    }

    @Test
    void withoutAConfiguredPathTheDriverNamesAreTriedInTurn() {
        assertEquals(List.of("libnvidia-ml.so.1", "libnvidia-ml.so"), NvmlConfig.defaults().libraryCandidates());
        assertEquals(List.of("/opt/nvidia/libnvidia-ml.so.1"),
                new NvmlConfig(java.util.Optional.of("  /opt/nvidia/libnvidia-ml.so.1 ")).libraryCandidates());
        assertEquals(NvmlConfig.defaults(), new NvmlConfig(java.util.Optional.of(" ")));
        assertEquals(1000, NvmlConfig.defaults().gaugeIntervalMillis());
        assertEquals("gaugeIntervalMillis must be 0 or more, got -1", assertThrows(IllegalArgumentException.class,
                () -> NvmlConfig.defaults().withGaugeIntervalMillis(-1)).getMessage());

        // On a machine with an NVIDIA driver this finds the real library; without one it says what it tried.
        try (NvmlSensor sensor = NvmlSensor.open(NvmlConfig.defaults())) {
            SensorStatus status = sensor.status();
            if (status.available()) {
                assertFalse(status.channels().isEmpty());
            } else {
                assertTrue(status.message().contains("tried libnvidia-ml.so.1 (")
                        && status.message().contains("; libnvidia-ml.so ("), status.message());
            }
        }
    }

    @ParameterizedTest
    @CsvSource({
            "9, 'nvmlInit_v2 in %s failed: Driver Not Loaded (NVML error 9). The NVIDIA kernel module is not loaded'",
            "18, 'nvmlInit_v2 in %s failed: RM has detected an NVML/RM version mismatch. (NVML error 18). libnvidia-ml and the loaded kernel module are from different driver versions'",
    })
    void anInitFailureGivesNvmlsErrorAndWhatWouldFixIt(int code, String expectedStart) throws SensorException {
        FakeNvml fake = FakeNvml.current().reset("init_result " + code + "\n" + twoGpus(1_000_000, 250_000, 100_000));

        try (NvmlSensor sensor = NvmlSensor.open(fake.config())) {
            SensorStatus status = sensor.status();
            assertFalse(status.available());
            assertTrue(status.message().startsWith(expectedStart.formatted(fake.libraryPath())), status.message());
            assertEquals(List.of(), sensor.read(T0_NANOS));
        }
        assertEquals(0, fake.shutdownCalls(), "NVML never started, so there is nothing to shut down");
    }

    @Test
    void noGpusIsReportedAndNvmlIsShutDownAgain() {
        FakeNvml fake = FakeNvml.current().reset("");

        try (NvmlSensor sensor = NvmlSensor.open(fake.config())) {
            assertFalse(sensor.status().available());
            assertTrue(sensor.status().message().startsWith("NVML (" + fake.libraryPath() + ") started but found no GPUs."),
                    sensor.status().message());
        }
        assertEquals(1, fake.shutdownCalls());
        assertEquals(0, fake.initRefcount());
    }
}
