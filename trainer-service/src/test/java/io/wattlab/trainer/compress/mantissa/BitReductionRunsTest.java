package io.wattlab.trainer.compress.mantissa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.micronaut.context.env.PropertySource;
import io.micronaut.context.env.PropertySourcePropertyResolver;
import io.wattlab.proto.v1.CompressionSpec;
import io.wattlab.proto.v1.DatasetSpec;
import io.wattlab.proto.v1.ModelSpec;
import io.wattlab.proto.v1.OptimizerSpec;
import io.wattlab.proto.v1.RunReport;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.trainer.onnx.ReducedFloat;
import io.wattlab.trainer.execute.CarbonIntensities;
import io.wattlab.trainer.execute.ExecutorSettings;
import io.wattlab.trainer.execute.FileModelSource;
import io.wattlab.trainer.execute.ModelFactsProvider;
import io.wattlab.trainer.execute.ModelSource;
import io.wattlab.trainer.execute.TrainingRunExecutor;
import io.wattlab.trainer.metering.InProcessMeter;
import io.wattlab.trainer.model.BuiltinModelSource;
import io.wattlab.trainer.onnx.OnnxModels;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.run.CancelSignal;
import io.wattlab.trainer.run.RunListener;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Whole runs through the service's executor with {@code mantissa} and {@code precision}: the pass
 * runs in the compress phase, the report carries its entries, and the trained model the run writes
 * keeps the constraint.
 */
class BitReductionRunsTest {

  static InProcessMeter meter;
  static TrainingRunExecutor executor;

  @BeforeAll
  static void start() throws Exception {
    meter = InProcessMeter.start(new PropertySourcePropertyResolver(PropertySource.of("test", Map.of())));
    Path runs = Files.createTempDirectory(Files.createDirectories(Path.of("target", "runs")), "mantissa-");
    executor = new TrainingRunExecutor(ExecutorSettings.defaults().withRunsDirectory(runs), meter,
        ModelSource.of(new FileModelSource(), new BuiltinModelSource()), CarbonIntensities.none(),
        ModelFactsProvider.fromInitializers());
  }

  @AfterAll
  static void stop() {
    if (meter != null) {
      meter.close();
    }
  }

  private static RunReport run(String id, String technique, Map<String, String> parameters) throws Exception {
    RunSpec spec = RunSpec.newBuilder()
        .setModel(ModelSpec.newBuilder().setBuiltin("resnet-cifar"))
        .setDataset(DatasetSpec.newBuilder().setFormat("synthetic").putAllOptions(Map.of(
            "classes", "4", "size", "16x16", "train", "128", "test", "32", "difficulty", "easy")))
        .setCompression(CompressionSpec.newBuilder().setTechnique(technique).putAllParameters(parameters))
        .setEpochs(1).setBatchSize(32).setLearningRate(0.05)
        .setOptimizer(OptimizerSpec.newBuilder().setName("sgd").setMomentum(0.9))
        .setSeed(7).setIdleSeconds(0).build();
    return executor.execute(id, spec, RunListener.NONE, new CancelSignal());
  }

  private static Map<String, float[]> weights(RunReport report) throws Exception {
    ModelProto trained = OnnxModels.read(Path.of(report.getTrainedModelPath()));
    Map<String, float[]> m = new java.util.LinkedHashMap<>();
    for (TensorProto t : trained.getGraph().getInitializerList()) {
      if (LearnedWeights.of(trained.getGraph()).tensors().contains(t.getName())) {
        m.put(t.getName(), Tensors.toFloats(t));
      }
    }
    return m;
  }

  @Test
  void aMantissaRunReportsThePassAndWritesAModelWithTheBitsClear() throws Exception {
    RunReport report = run("run-mantissa", "mantissa", Map.of("bits", "10"));
    assertEquals("mantissa", report.getCompressionMap().get("technique"));
    assertEquals("bits=10", report.getCompressionMap().get("parameters"));
    assertEquals("10", report.getCompressionMap().get("bits_cleared"));
    Map<String, float[]> weights = weights(report);
    assertTrue(weights.size() >= 40, weights.keySet().toString());
    for (var e : weights.entrySet()) {
      for (float v : e.getValue()) {
        assertTrue(MantissaBits.lowBitsClear(v, 10), e.getKey() + " = " + v);
      }
    }
  }

  @Test
  void aPrecisionRunSaysItComputedInFp32AndWritesBf16Weights() throws Exception {
    RunReport report = run("run-precision", "precision", Map.of("format", "bf16"));
    assertEquals("fp32", report.getCompressionMap().get("compute"));
    assertTrue(report.getCompressionMap().get("compute_reason").contains("no bfloat16 kernels"),
        report.getCompressionMap().toString());
    for (var e : weights(report).entrySet()) {
      for (float v : e.getValue()) {
        assertEquals(ReducedFloat.BF16.round(v), v, e.getKey());
      }
    }
  }

  @Test
  void aPrecisionRunAskedForFp16ComputeOnTheCpuTrainsTheFloat16GraphAndReportsItsLossScale() throws Exception {
    RunReport report = run("run-precision-fp16", "precision", Map.of("compute", "fp16"));
    Map<String, String> c = report.getCompressionMap();
    assertEquals("compute=fp16,format=fp16,growth_interval=2000,init_scale=65536", c.get("parameters"));
    assertEquals("fp16", c.get("compute"));
    assertTrue(c.get("compute_reason").startsWith("device cpu, asked for by parameters.compute")
        && c.get("compute_reason").contains("InsertedPrecisionFreeCast"), c.get("compute_reason"));
    assertTrue(c.get("loss_scaling").startsWith("dynamic"), c.get("loss_scaling"));
    long skipped = Long.parseLong(c.get("skipped_steps"));
    assertTrue(skipped >= 0 && skipped <= 4, "of 128 / 32 steps: " + skipped);
    assertEquals(65536 / Math.pow(2, skipped), Double.parseDouble(c.get("final_loss_scale")),
        "halved once per skipped step, never grown in 4 steps");
    ModelProto trained = OnnxModels.read(Path.of(report.getTrainedModelPath()));
    java.util.Set<String> learned = LearnedWeights.of(trained.getGraph()).tensors();
    for (TensorProto t : trained.getGraph().getInitializerList()) {
      if (learned.contains(t.getName())) {
        assertEquals(Tensors.FLOAT, t.getDataType(), t.getName() + " is written as float32 master weights");
      }
    }
  }
}
