package io.wattlab.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * The engine's loss, gradients and SGD trajectory against PyTorch on the same weights and batch.
 * Errors are per tensor, ||ours - torch|| / ||torch||: 1e-4 for gradients (or twice PyTorch's
 * own float32-vs-float64 error where that is larger), 1e-3 for weights after 20 steps.
 */
class PyTorchParityTest {
  static final double GRAD_TOLERANCE = 1e-4;
  static final double WEIGHT_TOLERANCE = 1e-3;

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
   * float64 gradients differ by 0.5%; at batch 8 they agree to 1e-5. Likewise lr 0.001, not
   * 0.01: at 0.01 the batch is memorised in 3 steps and PyTorch float32 ends 10% away from
   * PyTorch float64 (we track float64 more closely), at 0.001 the two agree to 3e-4.
   */
  @Test
  void resnet18GradientsMatchPyTorch() throws Exception {
    checkGradients(resnet18(), TrainConfig.sgd(8, 0.9));
  }

  @Test
  @Disabled("known gap (docs/training-engine.md): at step 2 a ReLU input of 8e-8 falls on different sides of"
      + " the kink in the two runs; after 20 steps BatchNorm biases differ by up to 0.7%, over the 1e-3 target")
  void resnet18SgdMomentumTrajectoryMatchesPyTorch() throws Exception {
    checkTrajectory(resnet18(), TrainConfig.sgd(8, 0.9), 0.001f, 20);
  }

  private static Reference resnet18() throws Exception {
    return Reference.of("resnet18", "--batch", "8", "--steps", "20", "--lr", "0.001");
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

  /** Opset 11 exports go through the opset-13 rewrite (Clip, Flatten, BatchNorm without training_mode). */
  @Test
  void opset11ExportTrainsLikePyTorch() throws Exception {
    Reference ref = Reference.of("tiny", "--batch", "4", "--size", "16", "--steps", "20", "--lr", "0.05", "--opset", "11");
    checkGradients(ref, TrainConfig.sgd(4, 0.9));
    checkTrajectory(ref, TrainConfig.sgd(4, 0.9), 0.05f, 20);
  }

  /** EfficientNet has no ReLU (SiLU and sigmoid gates), so no kink to fall on either side of. */
  @Test
  @Disabled("not a meaningful target at batch 8, 32x32: PyTorch's own float32 and float64 runs are 1.7% apart in"
      + " loss at step 2 and diverge after (we are between them at step 2: 5.551 vs 5.621 and 5.613)")
  void efficientnetB0SgdMomentumTrajectoryMatchesPyTorch() throws Exception {
    Reference ref = Reference.of("efficientnet_b0", "--batch", "8", "--steps", "20", "--lr", "0.001");
    checkTrajectory(ref, TrainConfig.sgd(8, 0.9), 0.001f, 20);
  }
}
