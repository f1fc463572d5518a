package io.wattlab.trainer.execute;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.wattlab.proto.v1.CarbonSpec;
import io.wattlab.proto.v1.DatasetSpec;
import io.wattlab.proto.v1.ModelSpec;
import io.wattlab.proto.v1.OptimizerSpec;
import io.wattlab.proto.v1.PhaseReport;
import io.wattlab.proto.v1.RunReport;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.testing.Await;
import io.wattlab.testing.InfluxServer;
import io.wattlab.trainer.metering.EnergySummaries;
import io.wattlab.trainer.metering.InProcessMeter;
import io.wattlab.trainer.run.CancelSignal;
import io.wattlab.trainer.run.RunCancelledException;
import io.wattlab.trainer.run.RunFailedException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole runs on the real engine, the real sensors of this machine (in-process meter) and a real
 * influxd: what the report says and what InfluxQL finds over the run's window must agree.
 */
class TrainingRunExecutorTest {

    private static final String DATABASE = "executor";
    private static InfluxServer influx;
    private static InProcessMeter meter;
    private static TrainingRunExecutor executor;
    private static Path tinyModel;
    private static Path runs;

    @BeforeAll
    static void start() throws Exception {
        influx = InfluxServer.launch();
        Path spool = Files.createTempDirectory(Files.createDirectories(Path.of("target", "spool")), "executor-");
        runs = Files.createTempDirectory(Files.createDirectories(Path.of("target", "runs")), "executor-");
        meter = InProcessMeter.start(TestModels.configuration(Map.of(
                "wattlab.influx.url", influx.url(),
                "wattlab.influx.database", DATABASE,
                "wattlab.influx.flush-interval-millis", "200",
                "wattlab.influx.spool-dir", spool.toString())));
        ExecutorSettings settings = ExecutorSettings.defaults().withRunsDirectory(runs)
                .withInflux(new InfluxRunEvents.Target(influx.url(), DATABASE, null, null));
        executor = new TrainingRunExecutor(settings, meter, ModelSource.of(new FileModelSource(), ModelSource.noBuiltins()),
                CarbonIntensities.none(), ModelFactsProvider.fromInitializers());
        tinyModel = TestModels.export("tiny", 16, 10);
    }

    @AfterAll
    static void stop() {
        if (meter != null) {
            meter.close();
        }
        if (influx != null) {
            influx.close();
        }
    }

    /** A small CNN on the easy synthetic set: 10 classes of 3×16×16 images. */
    private static RunSpec.Builder syntheticRun(Path model, Map<String, String> datasetOptions) {
        return RunSpec.newBuilder()
                .setModel(ModelSpec.newBuilder().setOnnxPath(model.toString()))
                .setDataset(DatasetSpec.newBuilder().setFormat("synthetic").putAllOptions(Map.of(
                        "classes", "10", "size", "16", "train", "1000", "test", "200", "difficulty", "easy"))
                        .putAllOptions(datasetOptions))
                .setEpochs(3)
                .setBatchSize(32)
                .setLearningRate(0.05)
                .setOptimizer(OptimizerSpec.newBuilder().setName("sgd").setMomentum(0.9))
                .setSeed(7)
                .setIdleSeconds(0);
    }

    @Test
    void smallCnnLearnsTheSyntheticSetAndTheRunLandsInInfluxDb() throws Exception {
        RunSpec spec = syntheticRun(tinyModel, Map.of()).setIdleSeconds(1)
                .setCarbon(CarbonSpec.newBuilder().setGridIntensityGPerKwh(400))
                .putLabels("experiment", "executor-test").putLabels("phase", "collides")
                .build();
        RecordingListener listener = new RecordingListener();
        RunReport report = executor.execute("run-ok", spec, listener, new CancelSignal());

        assertTrue(report.getTop1() >= 0.90, "top-1 " + report.getTop1());
        assertTrue(report.getTop5() >= report.getTop1() && report.getMacroF1() > 0.85, report.toString());
        assertEquals(List.of("start load", "end load", "start compress", "end compress",
                "start train 1", "end train 1", "epoch 1", "start train 2", "end train 2", "epoch 2",
                "start train 3", "end train 3", "epoch 3", "start evaluate", "end evaluate"), listener.events);
        assertEquals(List.of("load/0", "compress/0", "train/1", "train/2", "train/3", "evaluate/0"),
                report.getPhasesList().stream().map(p -> p.getPhase() + "/" + p.getEpoch()).toList());
        assertEquals(3, report.getEpochsCount());
        assertTrue(report.getEpochs(2).getTrainLoss() < report.getEpochs(0).getTrainLoss(), report.getEpochsList().toString());
        assertEquals(31 * 32, report.getEpochs(0).getSamples(), "full batches only");

        // Energy: raw, net of idle, per unit, provenance, carbon, efficiency.
        var energy = report.getEnergy();
        assertTrue(energy.getEnergyJoules() > 0 && energy.getDomainsCount() > 0, energy.toString());
        assertTrue(report.getIdlePowerWatts() > 0, "idle power was sampled");
        assertEquals(Math.max(0, energy.getEnergyJoules() - report.getIdlePowerWatts() * energy.getDurationSeconds()),
                energy.getNetEnergyJoules(), 1e-6);
        assertEquals(energy.getEnergyJoules() / 3.6e6, energy.getEnergyKwh(), 1e-15);
        assertTrue(energy.getPeakPowerWatts() >= energy.getMeanPowerWatts() * 0.5, energy.toString());
        assertTrue(energy.getDomainsList().stream().allMatch(d -> d.getSource().equals("measured")
                || d.getSource().equals("estimated")), energy.toString());
        double phaseSum = report.getPhasesList().stream().mapToDouble(p -> p.getEnergy().getEnergyJoules()).sum();
        assertTrue(phaseSum <= energy.getEnergyJoules() * 1.001 && phaseSum > energy.getEnergyJoules() * 0.5,
                "phases " + phaseSum + " J inside the run's " + energy.getEnergyJoules() + " J");
        double trainJoules = report.getPhasesList().stream().filter(p -> p.getPhase().equals("train"))
                .mapToDouble(p -> p.getEnergy().getEnergyJoules()).sum();
        assertEquals(trainJoules / 3, report.getEnergyPerEpochJoules(), 1e-9);
        assertEquals(trainJoules / (3 * 31 * 32) * 1000, report.getEnergyPer1000SamplesJoules(), 1e-9);
        assertEquals(energy.getEnergyKwh() * 400, report.getCarbon().getCo2EGrams(), 1e-12);
        if (energy.getNetEnergyKwh() >= RunExecution.MIN_EFFICIENCY_KWH) {
            assertEquals(report.getTop1() / energy.getNetEnergyKwh(), report.getEfficiencyTop1PerKwh(), 1e-6);
        }
        assertTrue(report.getModelBefore().getParameters() > 1000, report.getModelBefore().toString());
        assertEquals(report.getModelBefore().getParameters(), report.getModelAfter().getParameters());

        // The exported model classifies like the report says.
        Path exported = Path.of(report.getTrainedModelPath());
        assertEquals(runs.resolve("run-ok").resolve("model.onnx").toAbsolutePath(), exported);
        try (OrtSession s = OrtEnvironment.getEnvironment().createSession(exported.toString())) {
            assertEquals(List.of(-1L), List.of(((ai.onnxruntime.TensorInfo) s.getInputInfo().values().iterator().next()
                    .getInfo()).getShape()[0]));
        }

        // InfluxDB: the run's window, its events with their tags, and its energy by InfluxQL.
        List<InfluxServer.Row> runPoints = influx.rows(DATABASE, "SELECT * FROM run WHERE run_id = 'run-ok'");
        assertEquals(2, runPoints.size(), runPoints.toString());
        InfluxServer.Row begin = runPoints.get(0);
        InfluxServer.Row end = runPoints.get(1);
        assertEquals("RUNNING", begin.values().get("state"));
        assertEquals("SUCCEEDED", end.values().get("state"));
        assertEquals("model", begin.values().get("model"), "the file name without .onnx");
        assertEquals("executor-test", end.values().get("experiment"));
        assertEquals("collides", end.values().get("label_phase"));
        assertEquals(report.getTop1(), end.number("top1"), 1e-12);
        assertEquals(energy.getEnergyJoules(), end.number("energy_joules"), 1e-9);
        long startNanos = begin.timeNanos();
        long endNanos = end.timeNanos();
        assertEquals(energy.getDurationSeconds(), (endNanos - startNanos) / 1e9, 1e-9);

        String window = String.format(Locale.ROOT, "time >= %d AND time <= %d AND in_total = 'true'", startNanos, endNanos);
        Await.until(Duration.ofSeconds(60),
                () -> !influx.rows(DATABASE, "SELECT count(watts) FROM power WHERE time = " + endNanos).isEmpty(),
                () -> "the meter's sample at the run's end did not reach InfluxDB");
        double integral = influx.rows(DATABASE, "SELECT INTEGRAL(watts, 1s) AS j FROM power WHERE " + window
                + " GROUP BY host, domain, device, sensor").stream().mapToDouble(r -> r.number("j")).sum();
        assertEquals(energy.getEnergyJoules(), integral, 0.005 * energy.getEnergyJoules(),
                "report " + energy.getEnergyJoules() + " J, InfluxQL INTEGRAL(watts) " + integral + " J");

        List<InfluxServer.Row> phasePoints = influx.rows(DATABASE,
                "SELECT * FROM run_phase WHERE run_id = 'run-ok' AND technique = 'none' AND device = 'cpu'");
        assertEquals(12, phasePoints.size(), "a start and an end per phase window: " + phasePoints);
        assertEquals(List.of("load", "load", "compress", "compress", "train", "train", "train", "train", "train", "train",
                "evaluate", "evaluate"), phasePoints.stream().map(r -> (String) r.values().get("phase")).toList());
        for (PhaseReport p : report.getPhasesList()) {
            assertTrue(phasePoints.stream().anyMatch(r -> "end".equals(r.values().get("event"))
                    && p.getPhase().equals(r.values().get("phase"))
                    && Math.abs(r.number("energy_joules") - p.getEnergy().getEnergyJoules()) < 1e-9), p.toString());
        }
        List<InfluxServer.Row> epochPoints = influx.rows(DATABASE,
                "SELECT * FROM run_epoch WHERE run_id = 'run-ok' AND experiment = 'executor-test'");
        assertEquals(List.of(1.0, 2.0, 3.0), epochPoints.stream().map(r -> r.number("epoch")).toList());
        assertEquals(report.getEpochs(2).getTop1(), epochPoints.get(2).number("top1"), 1e-12);
    }

    @Test
    void theSpecsOptimizerScheduleTrainableSetAndAugmentationsAreApplied() throws Exception {
        RunSpec spec = syntheticRun(tinyModel, Map.of()).setEpochs(2)
                .setOptimizer(OptimizerSpec.newBuilder().setName("adamw").setWeightDecay(0.01))
                .setLearningRate(0.01)
                .setSchedule(io.wattlab.proto.v1.ScheduleSpec.newBuilder().setKind("cosine").setMinLearningRate(0.001))
                .setTrainable(io.wattlab.proto.v1.TrainableSpec.newBuilder().setLastLayers(1))
                .setLabelSmoothing(0.1)
                .setClipGradNorm(1.0)
                .setAugmentation(io.wattlab.proto.v1.AugmentationSpec.newBuilder().setRandomCropPadding(2)
                        .setHorizontalFlip(true))
                .build();
        RunReport report = executor.execute("run-options", spec, new RecordingListener(), new CancelSignal());
        assertEquals(0.01, report.getEpochs(0).getLearningRate(), 1e-12, "cosine starts at the base rate");
        assertEquals(0.001, report.getEpochs(1).getLearningRate(), 1e-12, "and ends at min_learning_rate");
        assertTrue(report.getEpochs(1).getTrainLoss() < report.getEpochs(0).getTrainLoss(), report.getEpochsList().toString());

        // Only the last layer (the classifier) was trained: every other parameter is as exported by torch.
        var before = io.wattlab.trainer.onnx.OnnxModels.read(tinyModel).getGraph().getInitializerList().stream()
                .collect(java.util.stream.Collectors.toMap(t -> t.getName(), t -> t));
        var after = io.wattlab.trainer.onnx.OnnxModels.read(Path.of(report.getTrainedModelPath())).getGraph()
                .getInitializerList();
        int changed = 0;
        for (var t : after) {
            var old = before.get(t.getName());
            if (old == null || !io.wattlab.trainer.onnx.Tensors.isFloating(t.getDataType())
                    || t.getName().contains("running")) {
                continue;
            }
            boolean same = java.util.Arrays.equals(io.wattlab.trainer.onnx.Tensors.toFloats(old),
                    io.wattlab.trainer.onnx.Tensors.toFloats(t));
            if (!same) {
                changed++;
                assertTrue(t.getName().startsWith("8."), "frozen parameter " + t.getName() + " changed");
            }
        }
        assertTrue(changed >= 1, "the classifier was trained");
    }

    @Test
    void anUnreachableInfluxDbDoesNotFailTheRun() throws Exception {
        int closedPort = io.wattlab.testing.Ports.free();
        TrainingRunExecutor offline = new TrainingRunExecutor(ExecutorSettings.defaults().withRunsDirectory(runs)
                .withInflux(new InfluxRunEvents.Target("http://127.0.0.1:" + closedPort, DATABASE, null, null)),
                meter, new FileModelSource(), CarbonIntensities.none(), ModelFactsProvider.fromInitializers());
        RunReport report = offline.execute("run-offline", syntheticRun(tinyModel, Map.of()).setEpochs(1).build(),
                new RecordingListener(), new CancelSignal());
        assertEquals(1, report.getEpochsCount());
        assertTrue(report.getEnergy().getEnergyJoules() > 0);
    }

    @Test
    void builtInModelsComeFromTheWiredSourceWithTheDatasetsClassesAndShape() throws Exception {
        RunSpec spec = syntheticRun(tinyModel, Map.of()).setEpochs(1)
                .setModel(ModelSpec.newBuilder().setBuiltin("resnet-cifar")).build();
        RunFailedException none = assertThrows(RunFailedException.class,
                () -> executor.execute("run-builtin-none", spec, new RecordingListener(), new CancelSignal()));
        assertTrue(none.getMessage().contains("built-in model 'resnet-cifar' is not available"), none.getMessage());

        List<String> asked = new java.util.ArrayList<>();
        ModelSource builtins = (model, classes, shape) -> {
            asked.add(model.getBuiltin() + " " + classes + " " + shape);
            return io.wattlab.trainer.onnx.OnnxModels.read(tinyModel);
        };
        TrainingRunExecutor wired = new TrainingRunExecutor(ExecutorSettings.defaults().withRunsDirectory(runs), meter,
                ModelSource.of(new FileModelSource(), builtins), CarbonIntensities.none(),
                ModelFactsProvider.fromInitializers());
        RunReport report = wired.execute("run-builtin", spec, new RecordingListener(), new CancelSignal());
        assertEquals(List.of("resnet-cifar 10 3×16×16"), asked);
        assertEquals(1, report.getEpochsCount());
    }

    @Test
    void aRemoteMeterMetersTheRunAndLosingItFailsTheRunNamingIt() throws Exception {
        io.grpc.Server server = io.grpc.ServerBuilder.forPort(0)
                .addService(new io.wattlab.meter.api.MeterGrpcService(meter.daemon())).build().start();
        int port = server.getPort();
        try (io.wattlab.trainer.metering.RemoteMeter remote =
                     new io.wattlab.trainer.metering.RemoteMeter("127.0.0.1:" + port)) {
            TrainingRunExecutor overGrpc = new TrainingRunExecutor(ExecutorSettings.defaults().withRunsDirectory(runs),
                    remote, new FileModelSource(), CarbonIntensities.none(), ModelFactsProvider.fromInitializers());
            RunReport report = overGrpc.execute("run-remote", syntheticRun(tinyModel, Map.of()).setEpochs(1).build(),
                    new RecordingListener(), new CancelSignal());
            assertEquals(4, report.getPhasesCount());
            assertTrue(report.getEnergy().getEnergyJoules() > 0 && report.getPhases(2).getEnergy().getEnergyJoules() > 0,
                    report.toString());

            RecordingListener stopsTheMeter = new RecordingListener(change -> {
                if (change.getPhase().equals("train") && change.getStarted()) {
                    server.shutdownNow();
                }
            });
            RunFailedException e = assertThrows(RunFailedException.class, () -> overGrpc.execute("run-meter-lost",
                    syntheticRun(tinyModel, Map.of()).setEpochs(1).build(), stopsTheMeter, new CancelSignal()));
            assertTrue(e.getMessage().startsWith("train (epoch 1): meter-daemon at 127.0.0.1:" + port
                    + ": EndWindow"), e.getMessage());
            assertEquals(List.of("load", "compress"), e.partialReport().getPhasesList().stream()
                    .map(PhaseReport::getPhase).toList());
            assertTrue(e.partialReport().getEnergy().getEnergyJoules() > 0, "the phases measured are kept");
        } finally {
            server.shutdownNow().awaitTermination();
        }
    }

    @Test
    void aMissingModelFileIsNamed() {
        Path missing = Path.of("target", "no-such-model.onnx").toAbsolutePath();
        RunFailedException e = assertThrows(RunFailedException.class, () -> executor.execute("run-missing",
                syntheticRun(missing, Map.of()).build(), new RecordingListener(), new CancelSignal()));
        assertTrue(e.getMessage().contains(missing.toString()) && e.getMessage().contains("does not exist"), e.getMessage());
        assertEquals("load", e.partialReport().getPhases(0).getPhase());
    }

    @Test
    void aFileThatIsNotOnnxIsNamed() throws Exception {
        Path text = Files.createTempFile(Files.createDirectories(Path.of("target")), "not-a-model", ".onnx");
        Files.writeString(text, "these are not the bytes of an ONNX model\n".repeat(20), StandardCharsets.UTF_8);
        RunFailedException e = assertThrows(RunFailedException.class, () -> executor.execute("run-text",
                syntheticRun(text, Map.of()).build(), new RecordingListener(), new CancelSignal()));
        assertTrue(e.getMessage().contains(text.toString()) && e.getMessage().contains("is not an ONNX model"),
                e.getMessage());
    }

    @Test
    void aDatasetThatDoesNotFitTheModelSaysBothShapes() {
        RunFailedException e = assertThrows(RunFailedException.class, () -> executor.execute("run-mismatch",
                syntheticRun(tinyModel, Map.of("channels", "1", "classes", "5")).build(), new RecordingListener(),
                new CancelSignal()));
        assertTrue(e.getMessage().contains("1×16×16") && e.getMessage().contains("5 classes")
                && e.getMessage().contains("3×16×16") && e.getMessage().contains("10 classes"), e.getMessage());
    }

    @Test
    void aLossThatTurnsNanFailsWithEpochAndStep() {
        RecordingListener listener = new RecordingListener();
        RunFailedException e = assertThrows(RunFailedException.class, () -> executor.execute("run-nan",
                syntheticRun(tinyModel, Map.of()).setLearningRate(1e30).build(), listener, new CancelSignal()));
        assertTrue(e.getMessage().matches("loss became NaN at epoch 1, step \\d+.*"), e.getMessage());
        RunReport partial = e.partialReport();
        assertEquals("train", partial.getPhases(partial.getPhasesCount() - 1).getPhase());
        assertTrue(partial.getEnergy().getEnergyJoules() > 0, partial.toString());
        assertEquals("FAILED", influx.rows(DATABASE, "SELECT state FROM run WHERE run_id = 'run-nan'")
                .get(1).values().get("state"));
    }

    @Test
    void cancelMidEpochKeepsThePartialReport() {
        CancelSignal cancel = new CancelSignal();
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
        RecordingListener listener = new RecordingListener(change -> {
            if (change.getPhase().equals("train") && change.getStarted()) {
                timer.schedule(cancel::raise, 300, TimeUnit.MILLISECONDS);
            }
        });
        try {
            RunCancelledException e = assertThrows(RunCancelledException.class, () -> executor.execute("run-cancel",
                    syntheticRun(tinyModel, Map.of("train", "8000")).setBatchSize(8).build(), listener, cancel));
            var m = java.util.regex.Pattern.compile("cancelled at epoch 1 after step (\\d+) of (\\d+)").matcher(e.getMessage());
            assertTrue(m.matches(), e.getMessage());
            int step = Integer.parseInt(m.group(1));
            assertTrue(step > 0 && step < Integer.parseInt(m.group(2)), "mid-epoch: " + e.getMessage());
            RunReport partial = e.partialReport();
            assertEquals(List.of("load", "compress", "train"), partial.getPhasesList().stream().map(PhaseReport::getPhase).toList());
            assertEquals(0, partial.getEpochsCount());
            assertTrue(partial.getEnergy().getEnergyJoules() > 0 && partial.getDurationSeconds() > 0.3, partial.toString());
            assertTrue(partial.getTrainedModelPath().isEmpty(), "no model is exported from a cancelled run");
            assertEquals("end train 1", listener.events.get(listener.events.size() - 1));
        } finally {
            timer.shutdownNow();
        }
    }

    @Test
    void energySummaryNetsOutIdlePowerAndNeverGoesNegative() {
        var window = io.wattlab.proto.v1.WindowEnergy.newBuilder().setDurationSeconds(10).setTotalEnergyJoules(50)
                .setMeasuredFraction(1).build();
        assertEquals(30, EnergySummaries.of(window, 2).getNetEnergyJoules(), 1e-12);
        assertEquals(0, EnergySummaries.of(window, 9).getNetEnergyJoules(), 1e-12);
        assertEquals(5, EnergySummaries.of(window, 0).getMeanPowerWatts(), 1e-12);
    }
}
