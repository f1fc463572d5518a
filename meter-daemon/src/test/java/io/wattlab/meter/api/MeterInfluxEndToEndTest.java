package io.wattlab.meter.api;

import io.grpc.stub.StreamObserver;
import io.wattlab.proto.v1.BeginWindowRequest;
import io.wattlab.proto.v1.ChannelEnergy;
import io.wattlab.proto.v1.EndWindowRequest;
import io.wattlab.proto.v1.GetStatusRequest;
import io.wattlab.proto.v1.InfluxStatus;
import io.wattlab.proto.v1.MeterGrpc;
import io.wattlab.proto.v1.Sample;
import io.wattlab.proto.v1.StreamSamplesRequest;
import io.wattlab.proto.v1.WindowEnergy;
import io.wattlab.testing.Await;
import io.wattlab.testing.InfluxServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The daemon, its real sensors on a synthetic machine, and a real influxd: what the daemon answers
 * over gRPC and what an analyst's InfluxQL finds in the database must agree, through an outage too.
 */
class MeterInfluxEndToEndTest {

    private static final String DATABASE = "e2e";
    private static SyntheticLoad load;
    private static InfluxServer influx;
    private static RunningMeter running;

    @BeforeAll
    static void start() throws Exception {
        load = new SyntheticLoad();
        influx = InfluxServer.launch();
        Path spool = Files.createTempDirectory(Files.createDirectories(Path.of("target", "spool")), "e2e-");
        running = new RunningMeter(Map.of(
                "wattlab.nvml.library", load.nvmlLibrary(),
                "wattlab.rapl.root", load.powercapRoot(),
                "wattlab.estimate.mode", "always",
                "wattlab.influx.url", influx.url(),
                "wattlab.influx.database", DATABASE,
                "wattlab.influx.flush-interval-millis", "200",
                "wattlab.influx.spool-dir", spool.toString(),
                "wattlab.influx.tags", "node=n1,job=e2e",
                "wattlab.host", "e2e-host"));
    }

    @AfterAll
    static void stop() throws Exception {
        running.close();
        influx.close();
        load.close();
    }

    @Test
    void windowEnergyAgreesWithInfluxQlOverTheSameWindow() throws Exception {
        String id = running.meter.beginWindow(BeginWindowRequest.getDefaultInstance()).getWindowId();
        Thread.sleep(10_000);
        WindowEnergy window = running.meter.endWindow(EndWindowRequest.newBuilder().setWindowId(id).build());
        awaitEveryPointOf(window);

        for (ChannelEnergy c : window.getChannelsList()) {
            String where = where(window, c);
            double integral = influx.rows(DATABASE, "SELECT INTEGRAL(watts, 1s) AS j FROM power WHERE " + where)
                    .get(0).number("j");
            double counter = influx.rows(DATABASE, "SELECT LAST(joules) - FIRST(joules) AS j FROM energy WHERE " + where)
                    .get(0).number("j");
            String name = c.getChannel().getSensor() + "/" + c.getChannel().getDomain() + "/" + c.getChannel().getDevice();
            assertTrue(c.getEnergyJoules() > 10, name + " used " + c.getEnergyJoules() + " J");
            assertEquals(c.getEnergyJoules(), integral, 0.005 * c.getEnergyJoules(),
                    name + ": EndWindow " + c.getEnergyJoules() + " J, INTEGRAL(watts) " + integral + " J");
            assertEquals(c.getEnergyJoules(), counter, 0.001 * c.getEnergyJoules(),
                    name + ": EndWindow " + c.getEnergyJoules() + " J, energy counter difference " + counter + " J");
        }
        List<InfluxServer.Row> tagged = influx.rows(DATABASE,
                "SELECT count(watts) FROM power WHERE host = 'e2e-host' AND node = 'n1' AND job = 'e2e' AND source = 'measured'"
                        + " GROUP BY sensor");
        assertEquals(2, tagged.size(), "nvml and rapl points carry the configured host and static tags: " + tagged);
    }

    @Test
    void everyPointArrivesThroughA15SecondOutage() throws Exception {
        List<Sample> streamed = Collections.synchronizedList(new ArrayList<>());
        MeterGrpc.newStub(running.channel).streamSamples(StreamSamplesRequest.getDefaultInstance(), new StreamObserver<>() {
            @Override
            public void onNext(Sample sample) {
                streamed.add(sample);
            }

            @Override
            public void onError(Throwable t) {
            }

            @Override
            public void onCompleted() {
            }
        });
        Thread.sleep(500);
        String id = running.meter.beginWindow(BeginWindowRequest.getDefaultInstance()).getWindowId();
        Thread.sleep(3000);
        influx.stop();
        Thread.sleep(15_000);
        InfluxStatus during = running.meter.getStatus(GetStatusRequest.getDefaultInstance()).getInflux();
        influx.start();
        Thread.sleep(3000);
        WindowEnergy window = running.meter.endWindow(EndWindowRequest.newBuilder().setWindowId(id).build());

        assertFalse(during.getReachable(), "InfluxDB was down: " + during);
        assertTrue(during.getPointsSpooled() > 500, "a backlog was shown during the outage: " + during);
        awaitEveryPointOf(window);
        Await.until(Duration.ofSeconds(30),
                () -> running.meter.getStatus(GetStatusRequest.getDefaultInstance()).getInflux().getPointsSpooled() == 0,
                () -> running.meter.getStatus(GetStatusRequest.getDefaultInstance()).getInflux().toString());

        long start = Protos.nanos(window.getStart());
        long end = Protos.nanos(window.getEnd());
        for (ChannelEnergy c : window.getChannelsList()) {
            List<Sample> mine;
            synchronized (streamed) {
                mine = streamed.stream().filter(s -> s.getChannel().getSensor().equals(c.getChannel().getSensor())
                                && s.getChannel().getDomain().equals(c.getChannel().getDomain())
                                && s.getChannel().getDevice().equals(c.getChannel().getDevice())
                                && Protos.nanos(s.getTime()) >= start && Protos.nanos(s.getTime()) <= end)
                        .toList();
            }
            InfluxServer.Row row = influx.rows(DATABASE,
                    "SELECT count(watts) AS n, sum(watts) AS w FROM power WHERE " + where(window, c)).get(0);
            String name = c.getChannel().getSensor() + "/" + c.getChannel().getDomain();
            assertEquals(c.getSamples(), mine.size(), name + ": streamed samples in the window");
            assertEquals(mine.size(), (long) row.number("n"), name + ": points in InfluxDB");
            double sum = mine.stream().mapToDouble(Sample::getPowerWatts).sum();
            assertEquals(sum, row.number("w"), 1e-9 * Math.abs(sum), name + ": sum of watts");
        }
        InfluxStatus after = running.meter.getStatus(GetStatusRequest.getDefaultInstance()).getInflux();
        assertEquals(0, after.getPointsDropped(), after.toString());
        assertTrue(after.getReachable());
    }

    /** Waits until InfluxDB holds as many power points in the window, per channel, as the daemon sampled. */
    private static void awaitEveryPointOf(WindowEnergy window) {
        for (ChannelEnergy c : window.getChannelsList()) {
            String query = "SELECT count(watts) AS n FROM power WHERE " + where(window, c);
            Await.until(Duration.ofSeconds(60), () -> {
                List<InfluxServer.Row> rows = influx.rows(DATABASE, query);
                return !rows.isEmpty() && (long) rows.get(0).number("n") == c.getSamples();
            }, () -> c.getSamples() + " samples, InfluxDB has " + influx.rows(DATABASE, query));
        }
    }

    private static String where(WindowEnergy window, ChannelEnergy c) {
        return String.format(Locale.ROOT, "time >= %d AND time <= %d AND sensor = '%s' AND domain = '%s' AND device = '%s'",
                Protos.nanos(window.getStart()), Protos.nanos(window.getEnd()),
                c.getChannel().getSensor(), c.getChannel().getDomain(), c.getChannel().getDevice());
    }

}
