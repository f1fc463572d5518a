package io.wattlab.trainer.metering;

import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.micronaut.context.env.PropertySource;
import io.micronaut.context.env.PropertySourcePropertyResolver;
import io.wattlab.meter.api.MeterGrpcService;
import io.wattlab.proto.v1.WindowEnergy;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The remote meter against meter-daemon's own gRPC service over loopback, and the in-process meter beside it. */
class RemoteMeterTest {

    @Test
    void windowsOverGrpcMeasureWhatTheDaemonMeasures() throws Exception {
        try (InProcessMeter local = InProcessMeter.start(new PropertySourcePropertyResolver(PropertySource.of("test",
                Map.of("wattlab.meter.interval-millis", "50"))))) {
            Server server = ServerBuilder.forPort(0).addService(new MeterGrpcService(local.daemon())).build().start();
            try (RemoteMeter remote = new RemoteMeter("127.0.0.1:" + server.getPort())) {
                EnergyMeter.Window window = remote.begin(Map.of("run_id", "remote-test"));
                assertEquals(1, local.daemon().openWindows(), "the window is open in the daemon");
                Thread.sleep(600);
                WindowEnergy energy = remote.end(window);
                assertEquals(window.id(), energy.getWindowId());
                assertEquals("remote-test", energy.getLabelsMap().get("run_id"));
                assertTrue(energy.getDurationSeconds() >= 0.6 && energy.getDurationSeconds() < 5, energy.toString());
                assertTrue(energy.getChannelsCount() > 0 && energy.getTotalEnergyJoules() > 0, energy.toString());
                assertEquals(0, local.daemon().openWindows());

                MeteringException again = assertThrows(MeteringException.class, () -> remote.end(window));
                assertTrue(again.getMessage().contains(window.id()) && again.getMessage().contains("127.0.0.1"),
                        again.getMessage());

                double idle = remote.idlePowerWatts(Duration.ofMillis(300));
                assertTrue(idle > 0, "idle power " + idle);
            } finally {
                server.shutdownNow().awaitTermination();
            }
        }
    }

    @Test
    void anAddressThatIsNotHostAndPortIsNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new RemoteMeter("meter-host"));
        assertTrue(e.getMessage().contains("'meter-host'"), e.getMessage());
    }

    @Test
    void anUnreachableMeterFailsTheWindowWithItsAddress() {
        try (RemoteMeter remote = new RemoteMeter("127.0.0.1:1")) {
            MeteringException e = assertThrows(MeteringException.class, () -> remote.begin(Map.of()));
            assertTrue(e.getMessage().contains("127.0.0.1:1") && e.getMessage().contains("BeginWindow"), e.getMessage());
        }
    }

    @Test
    void inProcessWindowsAreTheDaemonsWindows() throws Exception {
        try (InProcessMeter local = InProcessMeter.start(new PropertySourcePropertyResolver(PropertySource.of("test",
                Map.of())))) {
            EnergyMeter.Window w = local.begin(Map.of("phase", "x"));
            Thread.sleep(300);
            WindowEnergy energy = local.end(w);
            assertEquals(w.startNanos(), energy.getStart().getSeconds() * 1_000_000_000L + energy.getStart().getNanos());
            assertTrue(energy.getTotalEnergyJoules() > 0, energy.toString());
            assertThrows(MeteringException.class, () -> local.end(w));
        }
    }
}
