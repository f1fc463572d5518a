package io.wattlab.trainer.compress.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micronaut.context.env.PropertySource;
import io.micronaut.context.env.PropertySourcePropertyResolver;
import io.wattlab.proto.v1.CompressionSpec;
import io.wattlab.proto.v1.DatasetSpec;
import io.wattlab.proto.v1.ModelSpec;
import io.wattlab.proto.v1.OptimizerSpec;
import io.wattlab.proto.v1.RunReport;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.proto.v1.ScheduleSpec;
import io.wattlab.trainer.compress.Techniques;
import io.wattlab.trainer.execute.CarbonIntensities;
import io.wattlab.trainer.execute.ExecutorSettings;
import io.wattlab.trainer.execute.FileModelSource;
import io.wattlab.trainer.execute.ModelFactsProvider;
import io.wattlab.trainer.execute.TrainingRunExecutor;
import io.wattlab.trainer.metering.InProcessMeter;
import io.wattlab.trainer.onnx.OnnxModels;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.run.CancelSignal;
import io.wattlab.trainer.run.RunListener;
import io.wattlab.trainer.testing.TorchExports;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Issue 5's acceptance for pruning: fine-tuned on the synthetic task through the real run executor,
 * the 50%-pruned model reaches within 3 points of the uncompressed model's top-1.
 */
class PrunedFineTuneTest {

  /**
   * The research question's setting: a model trained on the task (here: six epochs of the tiny
   * torch CNN on the hard synthetic set) is fine-tuned for four more epochs as it is and after 50%
   * magnitude pruning, same seed and hyper-parameters. (From a random init instead, the pruned
   * tiny CNN, 3.4 k weights, trails by about 5 points on this set: too few weights to spare half.)
   */
  @Test
  void halfPrunedModelFineTunesToWithinThreePointsOfTheUncompressedOne() throws Exception {
    Path runs = Files.createTempDirectory(Files.createDirectories(Path.of("target", "runs")), "prune-");
    RunSpec.Builder spec = RunSpec.newBuilder()
        .setModel(ModelSpec.newBuilder().setOnnxPath(TorchExports.file("tiny", 16, 10).toString()))
        .setDataset(DatasetSpec.newBuilder().setFormat("synthetic").putAllOptions(Map.of(
            "classes", "10", "size", "16", "train", "2000", "test", "1000", "difficulty", "hard")))
        .setEpochs(6)
        .setBatchSize(32)
        .setLearningRate(0.02)
        .setSchedule(ScheduleSpec.newBuilder().setKind("cosine").setMinLearningRate(0.0005))
        .setOptimizer(OptimizerSpec.newBuilder().setName("sgd").setMomentum(0.9))
        .setSeed(7)
        .setIdleSeconds(0);
    try (InProcessMeter meter = InProcessMeter.start(new PropertySourcePropertyResolver(
        PropertySource.of("test", Map.of())))) {
      TrainingRunExecutor executor = new TrainingRunExecutor(ExecutorSettings.defaults().withRunsDirectory(runs),
          meter, new FileModelSource(), CarbonIntensities.none(), ModelFactsProvider.fromInitializers());
      RunReport trained = executor.execute("trained", spec.build(), RunListener.NONE, new CancelSignal());
      spec.setModel(ModelSpec.newBuilder().setOnnxPath(trained.getTrainedModelPath())).setEpochs(4);
      RunReport dense = executor.execute("dense", spec.build(), RunListener.NONE, new CancelSignal());
      RunReport pruned = executor.execute("pruned", spec.setCompression(CompressionSpec.newBuilder()
          .setTechnique("prune").putParameters("sparsity", "0.5")).build(), RunListener.NONE, new CancelSignal());

      String top1 = String.format("top-1 before fine-tuning %.3f; after: uncompressed %.3f, pruned %.3f",
          trained.getTop1(), dense.getTop1(), pruned.getTop1());
      System.out.println("PrunedFineTuneTest: " + top1);
      assertTrue(dense.getTop1() > 0.5 && dense.getTop1() < 0.95, "learned, and not so well that any model would do: "
          + top1);
      assertTrue(pruned.getTop1() >= dense.getTop1() - 0.03, top1);

      // The exported model still has every pruned weight at zero after four epochs of SGD momentum.
      Map<String, String> compression = pruned.getCompressionMap();
      assertEquals("prune", compression.get("technique"));
      long prunedCount = Long.parseLong(compression.get("pruned_parameters"));
      assertEquals(prunedCount, Long.parseLong(compression.get("nonzero_parameters_before"))
          - Long.parseLong(compression.get("nonzero_parameters_after")));
      // The pass is deterministic: run again on the starting model, it names the weights to check.
      var start = Techniques.create("prune", Map.of("sparsity", "0.5"))
          .apply(OnnxModels.read(Path.of(trained.getTrainedModelPath()))).model();
      Map<String, float[]> after = new java.util.HashMap<>();
      OnnxModels.read(Path.of(pruned.getTrainedModelPath())).getGraph().getInitializerList()
          .forEach(t -> after.put(t.getName(), Tensors.isFloating(t.getDataType()) ? Tensors.toFloats(t) : null));
      long checked = 0;
      for (var t : start.getGraph().getInitializerList()) {
        if (t.getDataType() != Tensors.FLOAT) {
          continue;
        }
        float[] before = Tensors.toFloats(t);
        float[] now = after.get(t.getName());
        for (int i = 0; i < before.length; i++) {
          if (before[i] == 0f) {
            assertEquals(0f, now[i], t.getName() + "[" + i + "] after fine-tuning");
            checked++;
          }
        }
      }
      assertEquals(prunedCount, checked);
    }
  }

  /** Gradual pruning through the executor: the pass leaves the model dense, training ends at the final sparsity. */
  @Test
  void gradualPruningReachesItsFinalSparsityInTheTrainedModel() throws Exception {
    Path runs = Files.createTempDirectory(Files.createDirectories(Path.of("target", "runs")), "prune-");
    Path model = TorchExports.file("tiny", 16, 10);
    RunSpec spec = RunSpec.newBuilder()
        .setModel(ModelSpec.newBuilder().setOnnxPath(model.toString()))
        .setDataset(DatasetSpec.newBuilder().setFormat("synthetic").putAllOptions(Map.of(
            "classes", "10", "size", "16", "train", "256", "test", "64")))
        .setEpochs(3)
        .setBatchSize(32)
        .setLearningRate(0.05)
        .setOptimizer(OptimizerSpec.newBuilder().setName("sgd").setMomentum(0.9))
        .setSeed(7)
        .setIdleSeconds(0)
        .setCompression(CompressionSpec.newBuilder().setTechnique("prune").putParameters("sparsity", "0.6")
            .putParameters("schedule", "gradual"))
        .build();
    try (InProcessMeter meter = InProcessMeter.start(new PropertySourcePropertyResolver(
        PropertySource.of("test", Map.of())))) {
      TrainingRunExecutor executor = new TrainingRunExecutor(ExecutorSettings.defaults().withRunsDirectory(runs),
          meter, new FileModelSource(), CarbonIntensities.none(), ModelFactsProvider.fromInitializers());
      RunReport report = executor.execute("gradual", spec, RunListener.NONE, new CancelSignal());
      assertEquals("0", report.getCompressionMap().get("pruned_parameters"), "the pass prunes to epoch 1's level");
      assertEquals("0.6000", report.getCompressionMap().get("final_sparsity"));
      assertEquals("schedule=gradual,scope=layer,sparsity=0.6", report.getCompressionMap().get("parameters"));

      // tiny's weights: Conv 8×3×3×3, Conv 16×4×3×3 (2 groups), Gemm 10×256.
      Map<String, Integer> zeros = new java.util.TreeMap<>();
      var trained = OnnxModels.read(Path.of(report.getTrainedModelPath())).getGraph();
      for (var n : trained.getNodeList()) {
        if (n.getOpType().equals("Conv") || n.getOpType().equals("Gemm")) {
          var w = trained.getInitializerList().stream().filter(t -> t.getName().equals(n.getInput(1))).findFirst()
              .orElseThrow();
          int z = 0;
          for (float v : Tensors.toFloats(w)) {
            z += v == 0f ? 1 : 0;
          }
          zeros.put(n.getOpType() + " " + Tensors.numel(Tensors.dims(w)), z);
        }
      }
      assertEquals(Map.of("Conv 216", Math.round(0.6f * 216), "Conv 576", Math.round(0.6f * 576),
          "Gemm 2560", Math.round(0.6f * 2560)), zeros);
    }
  }
}
