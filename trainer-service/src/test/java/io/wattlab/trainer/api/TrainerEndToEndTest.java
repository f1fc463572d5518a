package io.wattlab.trainer.api;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.micronaut.context.ApplicationContext;
import io.micronaut.runtime.server.EmbeddedServer;
import io.wattlab.proto.v1.DatasetSpec;
import io.wattlab.proto.v1.ModelSpec;
import io.wattlab.proto.v1.OptimizerSpec;
import io.wattlab.proto.v1.Run;
import io.wattlab.proto.v1.RunEvent;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.proto.v1.RunState;
import io.wattlab.proto.v1.StartRunRequest;
import io.wattlab.proto.v1.TrainerGrpc;
import io.wattlab.proto.v1.WatchRunRequest;
import io.wattlab.meter.sensor.nvml.FakeNvml;
import io.wattlab.testing.Await;
import io.wattlab.trainer.dashboards.DashboardQueriesTest;
import io.wattlab.testing.InfluxServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The product's main job end to end: a client starts a run over gRPC, watches it to the end, and
 * the energy the trainer reports is what an analyst's InfluxQL finds over the run's window in a
 * real influxd. Real executor, real ONNX Runtime, real sensors (the estimate, on this machine).
 */
class TrainerEndToEndTest {

    private static final String DATABASE = "trainer_e2e";

    @Test
    void startRunWatchItToTheEndAndFindItsEnergyInInfluxDb(@TempDir Path runs, @TempDir Path spool) throws Exception {
        try (InfluxServer influx = InfluxServer.launch()) {
            Map<String, Object> properties = new HashMap<>();
            properties.put("grpc.server.port", io.wattlab.testing.Ports.free());
            properties.put("grpc.server.host", "127.0.0.1");
            properties.put("wattlab.trainer.runs-dir", runs.toString());
            properties.put("wattlab.influx.url", influx.url());
            properties.put("wattlab.influx.database", DATABASE);
            properties.put("wattlab.influx.flush-interval-millis", "200");
            properties.put("wattlab.influx.spool-dir", spool.toString());
            properties.put("wattlab.host", "e2e-host");
            // A GPU for the dashboards' GPU panels: the fake NVML library meter-daemon's tests build,
            // as an older board without the energy counter, so its energy is its power integrated.
            FakeNvml gpu = FakeNvml.current().reset("""
                    device
                    name Synthetic GPU
                    uuid GPU-e2e
                    energy_mj unsupported
                    power_mw 150000
                    power_limit_mw 300000
                    utilization 80 30
                    memory 1000 500 500
                    """);
            properties.put("wattlab.nvml.library", gpu.libraryPath());
            EmbeddedServer server = ApplicationContext.run(EmbeddedServer.class, properties);
            ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
            try {
                TrainerGrpc.TrainerBlockingStub trainer = TrainerGrpc.newBlockingStub(channel);
                RunSpec spec = RunSpec.newBuilder()
                        .setModel(ModelSpec.newBuilder().setBuiltin("resnet-cifar"))
                        .setDataset(DatasetSpec.newBuilder().setFormat("synthetic")
                                .putOptions("classes", "4").putOptions("size", "16x16").putOptions("train", "512")
                                .putOptions("test", "128").putOptions("difficulty", "easy").putOptions("seed", "3"))
                        .setEpochs(4).setBatchSize(32).setLearningRate(0.05)
                        .setOptimizer(OptimizerSpec.newBuilder().setName("sgd").setMomentum(0.9))
                        .setIdleSeconds(1)
                        .putLabels("study", "e2e")
                        .build();
                Run queued = trainer.startRun(StartRunRequest.newBuilder().setSpec(spec).build());

                List<String> seen = new ArrayList<>();
                Run finished = null;
                Iterator<RunEvent> events = trainer.withDeadlineAfter(10, TimeUnit.MINUTES)
                        .watchRun(WatchRunRequest.newBuilder().setRunId(queued.getRunId()).build());
                boolean startedBeforeTheWatch = false;
                while (events.hasNext()) {
                    RunEvent e = events.next();
                    if (e.hasSnapshot() && !e.getSnapshot().getPhase().isEmpty()) {
                        // The run began before the watch did: the snapshot holds the phase it is in.
                        Run s = e.getSnapshot();
                        seen.add(s.getPhase() + (s.getEpoch() > 0 ? s.getEpoch() : ""));
                        startedBeforeTheWatch = true;
                    } else if (e.hasPhase() && e.getPhase().getStarted()) {
                        seen.add(e.getPhase().getPhase() + (e.getPhase().getEpoch() > 0 ? e.getPhase().getEpoch() : ""));
                    } else if (e.hasEpoch()) {
                        seen.add("epoch" + e.getEpoch().getEpoch());
                    } else if (e.hasFinished()) {
                        finished = e.getFinished();
                    }
                }
                assertEquals(RunState.RUN_STATE_SUCCEEDED, finished.getState(), finished.getError());
                List<String> all = List.of("load", "compress", "train1", "epoch1", "train2", "epoch2", "train3",
                        "epoch3", "train4", "epoch4", "evaluate");
                int from = startedBeforeTheWatch ? all.indexOf(seen.get(0)) : 0;
                assertTrue(from >= 0, "snapshot phase " + seen);
                assertEquals(all.subList(from, all.size()), seen);
                assertTrue(finished.getReport().getTop1() >= 0.90, "top-1 " + finished.getReport().getTop1());

                // The run's window in InfluxDB is the span of its two `run` points.
                String runId = finished.getRunId();
                Await.until(Duration.ofSeconds(30),
                        () -> influx.rows(DATABASE, "SELECT count(state) FROM run WHERE run_id = '" + runId + "'").stream()
                                .anyMatch(r -> r.number("count") == 2),
                        () -> influx.rows(DATABASE, "SELECT * FROM run WHERE run_id = '" + runId + "'").toString());
                List<InfluxServer.Row> edges = influx.rows(DATABASE, "SELECT state FROM run WHERE run_id = '" + runId + "'");
                long start = edges.get(0).timeNanos();
                long end = edges.get(1).timeNanos();
                Await.until(Duration.ofSeconds(30),
                        () -> !influx.rows(DATABASE, "SELECT count(watts) FROM power WHERE time = " + end).isEmpty(),
                        () -> "the meter's sample at the run's end did not reach InfluxDB");
                double integral = influx.rows(DATABASE, String.format(Locale.ROOT,
                                "SELECT INTEGRAL(watts, 1s) AS j FROM power WHERE time >= %d AND time <= %d AND in_total = 'true'"
                                        + " GROUP BY host, domain, device, sensor", start, end))
                        .stream().mapToDouble(r -> r.number("j")).sum();
                double reported = finished.getReport().getEnergy().getEnergyJoules();
                assertTrue(reported > 0);
                assertEquals(reported, integral, 0.005 * reported,
                        "report " + reported + " J, InfluxQL INTEGRAL(watts) " + integral + " J");

                // Every dashboard query, as Grafana would send it for this run's window, finds rows.
                Map<String, String> variables = Map.of("$host", "(e2e\\-host)",
                        "$run_id", "(" + runId.replace("-", "\\-") + ")", "$model", "(resnet\\-cifar)");
                List<String> empty = new ArrayList<>();
                int checked = 0;
                for (Path dashboard : DashboardQueriesTest.dashboardFiles()) {
                    for (DashboardQueriesTest.Found f : DashboardQueriesTest.queries(dashboard)) {
                        String q = DashboardQueriesTest.interpolate(f.query(), start / 1_000_000 - 1000,
                                end / 1_000_000 + 1000, "1s", variables);
                        if (influx.rows(DATABASE, q).isEmpty()) {
                            empty.add(f.dashboard() + " " + f.where() + ": " + q);
                        }
                        checked++;
                    }
                }
                assertTrue(checked >= 15, "dashboard queries checked: " + checked);
                assertTrue(empty.isEmpty(), "dashboard queries without rows after a real run:\n" + String.join("\n", empty));
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                server.getApplicationContext().close();
            }
        }
    }
}
