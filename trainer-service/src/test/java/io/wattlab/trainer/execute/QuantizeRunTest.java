package io.wattlab.trainer.execute;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import io.wattlab.proto.v1.CompressionSpec;
import io.wattlab.proto.v1.DatasetSpec;
import io.wattlab.proto.v1.ModelSpec;
import io.wattlab.proto.v1.PhaseReport;
import io.wattlab.proto.v1.RunReport;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.testing.InfluxServer;
import io.wattlab.trainer.metering.InProcessMeter;
import io.wattlab.trainer.model.Pretrainer;
import io.wattlab.trainer.onnx.OnnxModels;
import io.wattlab.trainer.run.CancelSignal;
import io.wattlab.trainer.run.RunFailedException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An evaluate-only quantize run through the real executor, meter and influxd: a resnet-cifar
 * pre-trained on the easy synthetic task is evaluated as loaded (fp32) and as static int8, each
 * in its own evaluate window, and the report and InfluxDB say what each cost per 1,000 images.
 */
class QuantizeRunTest {

    private static final String DATABASE = "quantize";
    /** The source task the checkpoint was trained on; the run evaluates on its test split. */
    private static final Map<String, String> TASK = Map.of("classes", "4", "size", "16x16", "channels", "3",
            "train", "512", "test", "400", "difficulty", "easy", "seed", "11");

    private static InfluxServer influx;
    private static InProcessMeter meter;
    private static TrainingRunExecutor executor;
    private static Path checkpoint;

    @BeforeAll
    static void start() throws Exception {
        influx = InfluxServer.launch();
        Path spool = Files.createTempDirectory(Files.createDirectories(Path.of("target", "spool")), "quantize-");
        Path runs = Files.createTempDirectory(Files.createDirectories(Path.of("target", "runs")), "quantize-");
        meter = InProcessMeter.start(TestModels.configuration(Map.of(
                "wattlab.influx.url", influx.url(),
                "wattlab.influx.database", DATABASE,
                "wattlab.influx.flush-interval-millis", "200",
                "wattlab.influx.spool-dir", spool.toString())));
        executor = new TrainingRunExecutor(ExecutorSettings.defaults().withRunsDirectory(runs)
                .withInflux(new InfluxRunEvents.Target(influx.url(), DATABASE, null, null)), meter,
                ModelSource.of(new FileModelSource(), ModelSource.noBuiltins()), CarbonIntensities.none(),
                ModelFactsProvider.fromInitializers());
        checkpoint = Files.createDirectories(Path.of("target", "quantize-run")).resolve("resnet-cifar.onnx");
        Pretrainer.run(new Pretrainer.Config("resnet-cifar", 4, 3, 16, 16, 512, 400, "easy", 2, 32, 0.05, 11, 2),
                checkpoint);
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

    private static RunSpec.Builder quantizeRun(Map<String, String> parameters) {
        return RunSpec.newBuilder()
                .setModel(ModelSpec.newBuilder().setOnnxPath(checkpoint.toString()))
                .setDataset(DatasetSpec.newBuilder().setFormat("synthetic").putAllOptions(TASK))
                .setCompression(CompressionSpec.newBuilder().setTechnique("quantize").putAllParameters(parameters))
                .setEpochs(2)
                .setBatchSize(32)
                .setLearningRate(0.05)
                .setSeed(7)
                .setIdleSeconds(1);
    }

    @Test
    void anEvaluateOnlyRunTimesFp32AgainstInt8InTheirOwnWindows() throws Exception {
        RecordingListener listener = new RecordingListener();
        RunReport report = executor.execute("run-int8", quantizeRun(Map.of("calibration_images", "128", "evaluation_passes", "2")).build(),
                listener, new CancelSignal());
        Map<String, String> c = report.getCompressionMap();
        System.out.println("quantize run on this machine: " + new java.util.TreeMap<>(c));

        // No training, whatever spec.epochs says: the report says how many epochs it skipped.
        assertEquals(List.of("start load", "end load", "start compress", "end compress", "start evaluate",
                "end evaluate", "start evaluate", "end evaluate"), listener.events);
        assertEquals(0, report.getEpochsCount());
        assertEquals("2", c.get("train_epochs_skipped"));
        assertEquals("true", c.get("evaluate_only"));
        assertEquals("128", c.get("activations").replaceAll(".*min/max of (\\d+) .*", "$1"));

        // Both variants twice over all 400 test images; the run's accuracy is the int8 model's.
        assertEquals("800", c.get("inferences"));
        double fp32Top1 = Double.parseDouble(c.get("fp32_top1"));
        double int8Top1 = Double.parseDouble(c.get("int8_top1"));
        assertTrue(fp32Top1 > 0.6, "the checkpoint learned the task: " + fp32Top1);
        assertTrue(int8Top1 >= fp32Top1 - 0.03, "int8 " + int8Top1 + " vs fp32 " + fp32Top1);
        assertEquals(int8Top1, report.getTop1(), 1e-4);

        // Latency and energy per 1,000 inferences are each window's own figures.
        List<PhaseReport> evaluate = report.getPhasesList().stream().filter(p -> p.getPhase().equals("evaluate"))
                .toList();
        assertEquals(2, evaluate.size());
        String[] variants = {"fp32", "int8"};
        for (int i = 0; i < 2; i++) {
            String v = variants[i];
            double joules = evaluate.get(i).getEnergy().getEnergyJoules();
            double seconds = evaluate.get(i).getEnergy().getDurationSeconds();
            assertTrue(joules > 0, v + " window measured energy");
            assertEquals(joules / 800 * 1000, Double.parseDouble(c.get(v + "_joules_per_1000_inferences")),
                    1e-4 + joules * 1e-6);
            assertEquals(evaluate.get(i).getEnergy().getNetEnergyJoules() / 800 * 1000,
                    Double.parseDouble(c.get(v + "_net_joules_per_1000_inferences")), 1e-4 + joules * 1e-6);
            double msPerImage = Double.parseDouble(c.get(v + "_ms_per_image"));
            double msPerBatch = Double.parseDouble(c.get(v + "_ms_per_batch"));
            assertTrue(msPerImage > 0 && msPerImage * 800 <= seconds * 1000 + 0.5,
                    v + ": inference time inside its window: " + msPerImage + " ms × 800 vs " + seconds + " s");
            // ms per image is printed to 4 decimals: × 800 / 26 carries up to 0.0016 of rounding.
            assertEquals(msPerImage * 800 / 26, msPerBatch, 3e-3, v + ": 2 × 13 batches of 32 (the last one 16)");
        }
        assertEquals(Double.parseDouble(c.get("int8_ms_per_image")) / Double.parseDouble(c.get("fp32_ms_per_image")),
                Double.parseDouble(c.get("int8_to_fp32_ms_per_image")), 2e-3);
        assertTrue(c.containsKey("int8_to_fp32_joules_per_1000_inferences"), c.toString());

        // The exported model is the int8 one, and model_after counts the same weights as int8 bytes.
        var exported = OnnxModels.read(Path.of(report.getTrainedModelPath()));
        assertTrue(exported.getGraph().getNodeList().stream().anyMatch(n -> n.getOpType().equals("QuantizeLinear")));
        assertEquals(report.getModelBefore().getMacs(), report.getModelAfter().getMacs());
        assertTrue(report.getModelAfter().getBytes() < report.getModelBefore().getBytes() / 3, report.toString());

        // InfluxDB: the two evaluate windows, told apart by their variant tag, and one inference point each.
        List<InfluxServer.Row> phases = influx.rows(DATABASE,
                "SELECT * FROM run_phase WHERE run_id = 'run-int8' AND phase = 'evaluate' AND event = 'end'");
        assertEquals(List.of("fp32", "int8"), phases.stream().map(r -> (String) r.values().get("variant")).toList());
        assertEquals(evaluate.get(1).getEnergy().getEnergyJoules(), phases.get(1).number("energy_joules"), 1e-9);
        List<InfluxServer.Row> inference = influx.rows(DATABASE,
                "SELECT * FROM run_inference WHERE run_id = 'run-int8' AND technique = 'quantize'");
        assertEquals(List.of("fp32", "int8"), inference.stream().map(r -> (String) r.values().get("variant")).toList());
        assertEquals(Double.parseDouble(c.get("int8_joules_per_1000_inferences")),
                inference.get(1).number("joules_per_1000_inferences"), 1e-4);
    }

    @Test
    void dynamicModeRunsWithoutCalibrationAndABadParameterFailsTheRun() throws Exception {
        RunReport report = executor.execute("run-dynamic", quantizeRun(Map.of("mode", "dynamic")).build(),
                new RecordingListener(), new CancelSignal());
        Map<String, String> c = report.getCompressionMap();
        assertEquals("1", c.get("quantized_gemm"));
        assertTrue(Double.parseDouble(c.get("int8_ms_per_image")) > 0, c.toString());
        assertEquals(Double.parseDouble(c.get("fp32_top1")), Double.parseDouble(c.get("int8_top1")), 0.03);

        RunFailedException bad = assertThrows(RunFailedException.class, () -> executor.execute("run-bad",
                quantizeRun(Map.of("mode", "dynamic", "calibration_images", "10")).build(), new RecordingListener(),
                new CancelSignal()));
        assertTrue(bad.getMessage().contains("spec.compression.parameters.calibration_images"), bad.getMessage());
    }

    /**
     * An evaluate-only run never trains, so the model need not be one the engine can train: the
     * checkpoint with its ReLUs made LeakyReLUs (which has no gradient rule) is quantized and
     * evaluated, while a training run of the same file stops at load naming the op.
     */
    @Test
    void aModelTheEngineCannotTrainIsStillQuantizedAndEvaluated() throws Exception {
        ModelProto model = OnnxModels.read(checkpoint);
        GraphProto.Builder graph = model.getGraph().toBuilder();
        for (NodeProto.Builder node : graph.getNodeBuilderList()) {
            if (node.getOpType().equals("Relu")) {
                node.setOpType("LeakyRelu").addAttribute(AttributeProto.newBuilder().setName("alpha")
                        .setType(AttributeProto.AttributeType.FLOAT).setF(0.01f));
            }
        }
        Path leaky = checkpoint.resolveSibling("resnet-cifar-leaky.onnx");
        OnnxModels.write(model.toBuilder().setGraph(graph).build(), leaky);
        RunSpec.Builder spec = quantizeRun(Map.of("mode", "dynamic"))
                .setModel(ModelSpec.newBuilder().setOnnxPath(leaky.toString()));

        RunReport report = executor.execute("run-leaky-int8", spec.build(), new RecordingListener(), new CancelSignal());
        assertTrue(Double.parseDouble(report.getCompressionMap().get("fp32_top1")) > 0.6, report.getCompressionMap().toString());

        RunFailedException training = assertThrows(RunFailedException.class, () -> executor.execute("run-leaky-train",
                spec.setCompression(CompressionSpec.newBuilder().setTechnique("none")).build(), new RecordingListener(),
                new CancelSignal()));
        assertTrue(training.getMessage().startsWith("load: "), training.getMessage());
        assertTrue(training.getMessage().contains("LeakyRelu") && training.getMessage().contains("not supported for training"),
                training.getMessage());
    }
}
