package io.wattlab.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The engine's loss, gradients and SGD trajectory against PyTorch on the same weights and batch.
 * Errors are per tensor, ||ours - torch|| / ||torch||: 1e-4 for gradients (or twice PyTorch's
 * own float32-vs-float64 error where that is larger), 1e-3 for weights after 20 steps; for the
 * torchvision models' 20 steps, run in float64 on both sides, 1e-4 of how far each tensor moved.
 */
class PyTorchParityTest {
  static final double GRAD_TOLERANCE = 1e-4;
  static final double WEIGHT_TOLERANCE = 1e-3;
  /**
   * Float64 trajectories, error relative to PyTorch's move: measured 1.8e-7 (resnet18), 6.2e-7
   * (mobilenet_v2), 3.4e-6 (efficientnet_b0), 1.3e-7 (densenet121), largest in BatchNorm running
   * statistics (likely source: the engine builds constants such as 1 - momentum in float32).
   */
  static final double TRAJECTORY64_TOLERANCE = 1e-4;

  static void checkGradients(Reference ref, TrainConfig config) {
    ForwardModel forward = ForwardModel.prepare(ref.model(), (int) ref.dims.get("input/input")[0]);
    TrainGraph graph = TrainStepBuilder.build(forward, config.withOutputGradients(true));
    try (Trainer t = new Trainer(graph, ExecutionConfig.cpu(2))) {
      float loss = t.step(ref.input(), ref.labels, 0f);
      assertEquals(ref.loss(), loss, 1e-4 * Math.abs(ref.loss()), "loss");
      assertEquals(ref.grads().keySet(), graph.gradientOutputs().keySet(), "parameters");
      StringBuilder failures = new StringBuilder();
      double largest = ref.grads().values().stream().mapToDouble(Reference::norm).max().orElse(1);
      for (Map.Entry<String, float[]> e : ref.grads().entrySet()) {
        float[] ours = t.gradient(e.getKey());
        if (Reference.norm(e.getValue()) < 1e-6 * largest) {
          // Mathematically zero (a conv bias right before BatchNorm): both sides are rounding noise.
          if (!(Reference.norm(ours) < 1e-6 * largest)) {
            failures.append(String.format("%n  %s: torch gradient is zero, ours has norm %.3g", e.getKey(),
                Reference.norm(ours)));
          }
          continue;
        }
        double err = Reference.relativeError(ours, e.getValue());
        // Where PyTorch's own float32 gradient is further than 1e-4 from its float64 one, the
        // tensor is ill-conditioned in float32 and we allow twice PyTorch's own error.
        float[] exact = ref.floats.get("grad64").get(e.getKey());
        double tolerance = Math.max(GRAD_TOLERANCE, 2 * Reference.relativeError(e.getValue(), exact));
        if (!(err < tolerance)) {
          failures.append(String.format("%n  %s: relative error %.3g (|torch| = %.3g)", e.getKey(), err,
              Reference.norm(e.getValue())));
        }
      }
      assertTrue(failures.isEmpty(), () -> "gradients differ from PyTorch:" + failures);
    }
  }

  static void checkTrajectory(Reference ref, TrainConfig config, float lr, int steps) {
    ForwardModel forward = ForwardModel.prepare(ref.model(), (int) ref.dims.get("input/input")[0]);
    TrainGraph graph = TrainStepBuilder.build(forward, config);
    try (Trainer t = new Trainer(graph, ExecutionConfig.cpu(2))) {
      float[] losses = ref.floats.get("losses").get("losses");
      for (int i = 0; i < steps; i++) {
        float loss = t.step(ref.input(), ref.labels, lr);
        assertEquals(losses[i], loss, 1e-2 * Math.abs(losses[i]) + 1e-5, "loss at step " + i);
      }
      StringBuilder failures = new StringBuilder();
      for (Map.Entry<String, float[]> e : ref.finals().entrySet()) {
        double err = Reference.relativeError(t.value(e.getKey()), e.getValue());
        if (!(err < WEIGHT_TOLERANCE)) {
          failures.append(String.format("%n  %s: relative error %.3g", e.getKey(), err));
        }
      }
      assertTrue(failures.isEmpty(), () -> "after " + steps + " steps, tensors differ from PyTorch:" + failures);
    }
  }

  /**
   * The trajectory with rounding taken out: both sides run the steps in float64 (the reference
   * with {@code --float64 1}, the engine through {@link Float64Steps}), so that a difference is the
   * engine's arithmetic against PyTorch's rather than two float32 roundings amplified by the run.
   * Each final tensor's error is taken relative to how far PyTorch moved it from the initial
   * value, ||ours - torch|| / ||torch - initial||, which small learning rates cannot make easy.
   * Tensors PyTorch did not move beyond 1e-9 of the largest move are mathematically unmoved (a
   * BatchNorm bias whose shift the next BatchNorm removes has a zero gradient, and its running
   * mean follows): both sides must leave them within that bound. Returns the largest error.
   */
  static double checkTrajectory64(Reference ref, TrainConfig config, double lr, int steps, double tolerance) {
    ForwardModel forward = ForwardModel.prepare(ref.model(), (int) ref.dims.get("input/input")[0]);
    double[] losses = ref.doubles.get("losses").get("losses");
    Map<String, double[]> finals = ref.doubles.get("final");
    try (Float64Steps t = new Float64Steps(forward, config)) {
      Map<String, double[]> initial = new java.util.HashMap<>();
      t.state().forEach((k, v) -> initial.put(k, v.clone()));
      for (int i = 0; i < steps; i++) {
        double loss = t.step(ref.input(), ref.labels, lr);
        assertEquals(losses[i], loss, tolerance * Math.abs(losses[i]), "float64 loss at step " + i);
      }
      assertTrue(initial.keySet().containsAll(finals.keySet()),
          () -> "every tensor PyTorch updates is state of the train step; missing: " + finals.keySet().stream()
              .filter(k -> !initial.containsKey(k)).toList());
      double largestMove = finals.entrySet().stream()
          .mapToDouble(e -> Reference.distance(e.getValue(), initial.get(e.getKey()))).max().orElseThrow();
      StringBuilder failures = new StringBuilder();
      double worst = 0;
      for (Map.Entry<String, double[]> e : finals.entrySet()) {
        double[] ours = t.value(e.getKey());
        double[] start = initial.get(e.getKey());
        double move = Reference.distance(e.getValue(), start);
        if (move < 1e-9 * largestMove) {
          if (!(Reference.distance(ours, start) < 1e-9 * largestMove)) {
            failures.append(String.format("%n  %s: PyTorch leaves it (moved %.3g), ours moved %.3g", e.getKey(), move,
                Reference.distance(ours, start)));
          }
          continue;
        }
        double err = Reference.distance(ours, e.getValue()) / move;
        worst = Math.max(worst, err);
        if (!(err < tolerance)) {
          failures.append(String.format("%n  %s: error %.3g of PyTorch's move %.3g", e.getKey(), err, move));
        }
      }
      assertTrue(failures.isEmpty(), () -> "after " + steps + " float64 steps, tensors differ from PyTorch's:"
          + failures);
      return worst;
    }
  }

  /*
   * The torchvision models' 20-step trajectories run in float64 on both sides (checkTrajectory64).
   * In float32 they cannot be held to 1e-3: float32 rounding is amplified by the run (resnet18 at
   * lr 0.001: a ReLU input of 8e-8 at step 2 falls on different sides of the kink, and BatchNorm
   * biases end 0.7% apart; efficientnet_b0: PyTorch's own float32 and float64 runs are 1.7% apart
   * in loss at step 2). Learning rate 0.001 where the float64 run is not itself chaotic;
   * mobilenet_v2 and efficientnet_b0 at 0.001 are: two float64 runs that start 1e-15 apart
   * separate 30-100x a step (1e-4 to 1e-3 in loss by step 7), so they run at 1e-5 and 1e-4, where
   * the same two runs stay within 1e-5 in loss for 20 steps.
   */
  @Test
  void resnet18TrajectoryMatchesPyTorchInFloat64() throws Exception {
    Reference ref = Reference.of("resnet18", "--batch", "8", "--steps", "20", "--lr", "0.001", "--float64", "1");
    checkTrajectory64(ref, TrainConfig.sgd(8, 0.9), 0.001, 20, TRAJECTORY64_TOLERANCE);
  }

  @Test
  void mobilenetV2TrajectoryMatchesPyTorchInFloat64() throws Exception {
    Reference ref = Reference.of("mobilenet_v2", "--batch", "8", "--steps", "20", "--lr", "0.00001", "--float64", "1");
    checkTrajectory64(ref, TrainConfig.sgd(8, 0.9), 0.00001, 20, TRAJECTORY64_TOLERANCE);
  }

  @Test
  void efficientnetB0TrajectoryMatchesPyTorchInFloat64() throws Exception {
    Reference ref = Reference.of("efficientnet_b0", "--batch", "8", "--steps", "20", "--lr", "0.0001",
        "--float64", "1");
    checkTrajectory64(ref, TrainConfig.sgd(8, 0.9), 0.0001, 20, TRAJECTORY64_TOLERANCE);
  }

  /** DenseNet's transitions average-pool: in float64 through {@link PoolsAsReductions}. */
  @Test
  void densenet121TrajectoryMatchesPyTorchInFloat64() throws Exception {
    Reference ref = Reference.of("densenet121", "--batch", "8", "--steps", "20", "--lr", "0.001", "--float64", "1");
    checkTrajectory64(ref, TrainConfig.sgd(8, 0.9), 0.001, 20, TRAJECTORY64_TOLERANCE);
  }

  @Test
  void mlpGradientsAndSgdMomentumMatchPyTorch() throws Exception {
    Reference ref = Reference.of("mlp", "--batch", "4", "--steps", "20", "--lr", "0.1", "--momentum", "0.9");
    checkGradients(ref, TrainConfig.sgd(4, 0.9));
    checkTrajectory(ref, TrainConfig.sgd(4, 0.9), 0.1f, 20);
  }

  @Test
  void smallCnnWithBatchNormMatchesPyTorch() throws Exception {
    Reference ref = Reference.of("tiny", "--batch", "4", "--size", "16", "--steps", "20", "--lr", "0.05");
    checkGradients(ref, TrainConfig.sgd(4, 0.9));
    checkTrajectory(ref, TrainConfig.sgd(4, 0.9), 0.05f, 20);
  }

  /*
   * Batch 8, not 2: at 32x32 ResNet's last stage is 1x1, so with 2 images each BatchNorm channel
   * normalises 2 values and the gradient is so ill-conditioned that PyTorch's own float32 and
   * float64 gradients differ by 0.5%; at batch 8 they agree to 1e-5.
   */
  @Test
  void resnet18GradientsMatchPyTorch() throws Exception {
    checkGradients(Reference.of("resnet18", "--batch", "8", "--steps", "0"), TrainConfig.sgd(8, 0.9));
  }

  @Test
  void mobilenetV2GradientsMatchPyTorch() throws Exception {
    checkGradients(Reference.of("mobilenet_v2", "--batch", "8", "--steps", "0"), TrainConfig.sgd(8, 0.9));
  }

  @Test
  void efficientnetB0GradientsMatchPyTorch() throws Exception {
    checkGradients(Reference.of("efficientnet_b0", "--batch", "8", "--steps", "0"), TrainConfig.sgd(8, 0.9));
  }

  @Test
  void densenet121GradientsMatchPyTorch() throws Exception {
    checkGradients(Reference.of("densenet121", "--batch", "8", "--steps", "0"), TrainConfig.sgd(8, 0.9));
  }

  /**
   * ShuffleNet-V2 brings ReduceMean (its head is mean([2, 3])), the channel shuffle's Reshape and
   * Transpose and a shape subgraph (Shape, Gather, Slice, Div, Unsqueeze) around its chunks; at
   * opsets 11 and 12 (Unsqueeze with an axes attribute, rewritten to 13's input) and 18 and 21
   * (reference.py raises the opset-17 export by hand: the reductions' axes become an input) it
   * checks that those opsets are read as 14 is. Float64, lr 1e-5: like mobilenet_v2 the run is
   * chaotic at higher rates (the two float64 runs 8e-4 apart in loss at step 12 at 1e-4), and in
   * float32 one of conv5's ReLU inputs sits at the kink, which puts every gradient upstream of it
   * 5e-4 away from PyTorch float32 while PyTorch's float32 and float64 agree to 7e-5.
   */
  @Test
  void shufflenetV2TrajectoryMatchesPyTorchInFloat64AtOpsets11To21() throws Exception {
    for (String opset : List.of("11", "12", "14", "18", "21")) {
      Reference ref = Reference.of("shufflenet_v2_x0_5", "--batch", "8", "--steps", "20", "--lr", "0.00001",
          "--float64", "1", "--opset", opset);
      assertEquals(Integer.parseInt(opset), ref.model().getOpsetImport(0).getVersion(), "the model's opset");
      checkTrajectory64(ref, TrainConfig.sgd(8, 0.9), 0.00001, 20, TRAJECTORY64_TOLERANCE);
    }
  }

  /**
   * The ops whose signatures changed at opset 13 — Split, ReduceSum, Softmax (which coerced its
   * input to 2-D before), Squeeze and Unsqueeze (axes from attribute to input) — in a small net
   * exported at opsets 11, 12 and 14: gradients and 20 SGD steps against PyTorch.
   */
  @Test
  void opset13ChangesTrainLikePyTorchAtOpsets11To14() throws Exception {
    for (String opset : List.of("11", "12", "14")) {
      Reference ref = Reference.of("opset13_changes", "--batch", "4", "--size", "8", "--steps", "20", "--lr", "0.05",
          "--opset", opset);
      assertEquals(Integer.parseInt(opset), ref.model().getOpsetImport(0).getVersion(), "the model's opset");
      checkGradients(ref, TrainConfig.sgd(4, 0.9));
      checkTrajectory(ref, TrainConfig.sgd(4, 0.9), 0.05f, 20);
    }
  }

  /** Opset 11 exports go through the opset-13 rewrite (Clip, Flatten, BatchNorm without training_mode). */
  @Test
  void opset11ExportTrainsLikePyTorch() throws Exception {
    Reference ref = Reference.of("tiny", "--batch", "4", "--size", "16", "--steps", "20", "--lr", "0.05", "--opset", "11");
    checkGradients(ref, TrainConfig.sgd(4, 0.9));
    checkTrajectory(ref, TrainConfig.sgd(4, 0.9), 0.05f, 20);
  }
}
