package io.wattlab.meter.api;

import com.google.protobuf.Timestamp;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.wattlab.proto.v1.BeginWindowRequest;
import io.wattlab.proto.v1.BeginWindowResponse;
import io.wattlab.proto.v1.ChannelEnergy;
import io.wattlab.proto.v1.EndWindowRequest;
import io.wattlab.proto.v1.GetEnergyRequest;
import io.wattlab.proto.v1.GetStatusRequest;
import io.wattlab.proto.v1.MeterGrpc;
import io.wattlab.proto.v1.MeterStatus;
import io.wattlab.proto.v1.Sample;
import io.wattlab.proto.v1.SensorStatus;
import io.wattlab.proto.v1.Source;
import io.wattlab.proto.v1.StreamSamplesRequest;
import io.wattlab.proto.v1.WindowEnergy;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Iterator;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Meter API over real gRPC on loopback, with the daemon's real sensors reading a synthetic machine. */
class MeterGrpcServiceTest {

    private static SyntheticLoad load;
    private static RunningMeter running;

    @BeforeAll
    static void start() throws Exception {
        load = new SyntheticLoad();
        running = new RunningMeter(Map.of(
                "wattlab.nvml.library", load.nvmlLibrary(),
                "wattlab.rapl.root", load.powercapRoot(),
                "wattlab.estimate.mode", "always",
                "wattlab.meter.retention-seconds", "60"));
    }

    @AfterAll
    static void stop() throws Exception {
        running.close();
        load.close();
    }

    @Test
    void statusListsEverySensorWithItsSourceAndTheRateAchieved() throws Exception {
        Thread.sleep(1500);
        MeterStatus status = running.meter.getStatus(GetStatusRequest.getDefaultInstance());
        Map<String, SensorStatus> sensors = status.getSensorsList().stream()
                .collect(Collectors.toMap(SensorStatus::getSensor, s -> s));
        assertEquals(Source.SOURCE_MEASURED, sensors.get("nvml").getSource());
        assertEquals(Source.SOURCE_MEASURED, sensors.get("rapl").getSource());
        assertEquals(Source.SOURCE_ESTIMATED, sensors.get("estimate").getSource());
        assertEquals(1, sensors.get("nvml").getChannelsCount());
        assertEquals("Synthetic GPU", sensors.get("nvml").getChannels(0).getAttributesOrThrow("name"));
        assertEquals(2, sensors.get("rapl").getChannelsCount());
        for (SensorStatus s : sensors.values()) {
            assertTrue(s.getAvailable(), s.toString());
            assertEquals(10.0, s.getConfiguredRateHertz(), 1e-9);
            assertEquals(10.0, s.getAchievedRateHertz(), 1.0, s.getSensor() + " sampled at " + s.getAchievedRateHertz() + " Hz");
        }
        assertEquals(60, status.getRetention().getSeconds());
        assertTrue(!status.hasInflux(), "no InfluxDB was configured");
    }

    @Test
    void aWindowGivesTheEnergyOfEachChannelBetweenItsEdges() throws Exception {
        // The synthetic clock is held so that the counters read at each edge are known exactly.
        double t0 = load.hold();
        WindowEnergy window;
        double t1;
        try {
            BeginWindowResponse begun = running.meter.beginWindow(BeginWindowRequest.newBuilder()
                    .putLabels("run_id", "r-42").putLabels("phase", "train").build());
            t1 = load.advance(2.5);
            Thread.sleep(400);
            window = running.meter.endWindow(EndWindowRequest.newBuilder().setWindowId(begun.getWindowId()).build());
        } finally {
            load.resume();
        }

        assertEquals(Map.of("run_id", "r-42", "phase", "train"), window.getLabelsMap());
        assertEquals((Protos.nanos(window.getEnd()) - Protos.nanos(window.getStart())) / 1e9, window.getDurationSeconds(), 1e-9);
        Map<String, ChannelEnergy> byDomain = window.getChannelsList().stream()
                .collect(Collectors.toMap(c -> c.getChannel().getSensor() + "/" + c.getChannel().getDomain(), c -> c));
        // Counters are written in mJ (NVML) and uJ (RAPL, which also wraps in this window).
        assertEquals(SyntheticLoad.GPU.joules(t1) - SyntheticLoad.GPU.joules(t0),
                byDomain.get("nvml/gpu").getEnergyJoules(), 2e-3);
        assertEquals(SyntheticLoad.PACKAGE.joules(t1) - SyntheticLoad.PACKAGE.joules(t0),
                byDomain.get("rapl/cpu").getEnergyJoules(), 2e-6);
        assertEquals(SyntheticLoad.DRAM.joules(t1) - SyntheticLoad.DRAM.joules(t0),
                byDomain.get("rapl/dram").getEnergyJoules(), 2e-6);
        // NVML's power is read directly: the peak is the higher of the two levels the GPU showed.
        assertEquals(Math.max(SyntheticLoad.GPU.watts(t0), SyntheticLoad.GPU.watts(t1)),
                byDomain.get("nvml/gpu").getPeakPowerWatts(), 2e-3);
        assertTrue(byDomain.get("nvml/gpu").getSamples() >= 3, "samples: " + byDomain.get("nvml/gpu").getSamples());
        double measured = byDomain.get("nvml/gpu").getEnergyJoules() + byDomain.get("rapl/cpu").getEnergyJoules()
                + byDomain.get("rapl/dram").getEnergyJoules();
        double estimated = byDomain.get("estimate/cpu").getEnergyJoules() + byDomain.get("estimate/ram").getEnergyJoules();
        // The estimate runs beside RAPL's package and DRAM (mode always) and is left out of the total.
        assertTrue(estimated > 0);
        assertEquals(measured, window.getTotalEnergyJoules(), 1e-6);
        assertEquals(1.0, window.getMeasuredFraction(), 1e-12);
    }

    @Test
    void getEnergyOverARangeAgreesWithTheWindowOverTheSameRange() throws Exception {
        BeginWindowResponse begun = running.meter.beginWindow(BeginWindowRequest.getDefaultInstance());
        Thread.sleep(1200);
        WindowEnergy window = running.meter.endWindow(EndWindowRequest.newBuilder().setWindowId(begun.getWindowId()).build());
        WindowEnergy range = running.meter.getEnergy(GetEnergyRequest.newBuilder()
                .setStart(window.getStart()).setEnd(window.getEnd()).build());
        assertEquals(window.getTotalEnergyJoules(), range.getTotalEnergyJoules(), 1e-6);
        assertEquals(window.getChannelsCount(), range.getChannelsCount());
    }

    @Test
    void anUnknownWindowIsNotFoundAndAnEndedOneCannotEndTwice() {
        StatusRuntimeException unknown = assertThrows(StatusRuntimeException.class, () -> running.meter.endWindow(
                EndWindowRequest.newBuilder().setWindowId("no-such-window").build()));
        assertEquals(Status.Code.NOT_FOUND, unknown.getStatus().getCode());
        assertTrue(unknown.getStatus().getDescription().contains("no-such-window"));

        String id = running.meter.beginWindow(BeginWindowRequest.getDefaultInstance()).getWindowId();
        running.meter.endWindow(EndWindowRequest.newBuilder().setWindowId(id).build());
        StatusRuntimeException again = assertThrows(StatusRuntimeException.class, () -> running.meter.endWindow(
                EndWindowRequest.newBuilder().setWindowId(id).build()));
        assertEquals(Status.Code.NOT_FOUND, again.getStatus().getCode());

        StatusRuntimeException empty = assertThrows(StatusRuntimeException.class, () -> running.meter.endWindow(
                EndWindowRequest.getDefaultInstance()));
        assertEquals(Status.Code.INVALID_ARGUMENT, empty.getStatus().getCode());
    }

    @Test
    void aRangeOutsideRetentionIsOutOfRangeAndNamesWhatIsHeld() {
        Timestamp longAgo = Timestamp.newBuilder().setSeconds(1_000_000_000L).build();
        Timestamp later = Timestamp.newBuilder().setSeconds(1_000_000_010L).build();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> running.meter.getEnergy(
                GetEnergyRequest.newBuilder().setStart(longAgo).setEnd(later).build()));
        assertEquals(Status.Code.OUT_OF_RANGE, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("samples are held from"), e.getStatus().getDescription());

        StatusRuntimeException backwards = assertThrows(StatusRuntimeException.class, () -> running.meter.getEnergy(
                GetEnergyRequest.newBuilder().setStart(later).setEnd(longAgo).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, backwards.getStatus().getCode());
    }

    @Test
    void streamSamplesDeliversSamplesOfTheSensorsAskedFor() {
        MeterGrpc.MeterBlockingStub stub = running.meter.withDeadlineAfter(5, java.util.concurrent.TimeUnit.SECONDS);
        Iterator<Sample> samples = stub.streamSamples(StreamSamplesRequest.newBuilder().addSensors("rapl").build());
        int cpu = 0;
        for (int i = 0; i < 20; i++) {
            Sample s = samples.next();
            assertEquals("rapl", s.getChannel().getSensor());
            assertEquals(Source.SOURCE_MEASURED, s.getChannel().getSource());
            if (s.getChannel().getDomain().equals("cpu")) {
                cpu++;
                assertTrue(s.getPowerWatts() > 10 && s.getPowerWatts() < 80, "package power " + s.getPowerWatts());
            }
        }
        assertEquals(10, cpu);
    }

    @Test
    void theStandardHealthServiceSaysServing() {
        HealthCheckResponse health = HealthGrpc.newBlockingStub(running.channel)
                .check(HealthCheckRequest.getDefaultInstance());
        assertEquals(HealthCheckResponse.ServingStatus.SERVING, health.getStatus());
    }
}
