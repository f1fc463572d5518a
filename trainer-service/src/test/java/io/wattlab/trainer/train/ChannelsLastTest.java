package io.wattlab.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.Tensors;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The channels-last pass on a ResNet basic block between batch-GEMM convolutions (4×4 maps, 16
 * channels): the train step with it gives the loss, gradients, parameters and running statistics
 * of the train step without it, with the activation transposes gone.
 */
class ChannelsLastTest {
  private static final int BATCH = 4;
  private static final int C = 16;
  private final Random random = new Random(7);

  @Test
  void aResidualBlockTrainsAsInNchwWithoutItsTransposes() {
    ForwardModel forward = ForwardModel.prepare(residualBlock(), BATCH);
    TrainConfig config = TrainConfig.sgd(BATCH, 0.9).withOutputGradients(true);
    TrainGraph nchw = TrainStepBuilder.build(forward, config, false, false);
    TrainGraph last = TrainStepBuilder.build(forward, config, false, true);
    // Before: conv1..3 each transpose their input and output (and the gradients back): 12
    // activation transposes. After: only conv1's input (the block's input) and conv3's output
    // (read by the pool), and their gradients: 4. The 3×3 kernels' 2 transposes and their 2
    // gradients are in both (the 1×1 kernel is only reshaped).
    assertEquals(16, transposes(nchw), "transposes without the pass");
    assertEquals(8, transposes(last), "transposes with the pass");

    float[] images = gaussian(BATCH * C * 16);
    long[] labels = {1, 0, 2, 1};
    try (Trainer a = new Trainer(nchw, ExecutionConfig.cpu(1)); Trainer b = new Trainer(last, ExecutionConfig.cpu(1))) {
      for (int step = 0; step < 3; step++) {
        float la = a.step(images, labels, 0.05f);
        float lb = b.step(images, labels, 0.05f);
        assertEquals(la, lb, 1e-6 * Math.abs(la), "loss at step " + step);
        for (String p : nchw.gradientOutputs().keySet()) {
          assertClose(a.gradient(p), b.gradient(p), "gradient of " + p + " at step " + step);
        }
      }
      for (TrainGraph.StateSlot s : nchw.state()) {
        assertClose(a.value(s.name()), b.value(s.name()), s.name() + " after 3 steps");
      }
    }
  }

  private static void assertClose(float[] expected, float[] actual, String what) {
    double err = Reference.relativeError(actual, expected);
    assertTrue(err < 1e-5, () -> what + ": relative error " + err);
  }

  private static long transposes(TrainGraph g) {
    return g.model().getGraph().getNodeList().stream().filter(n -> n.getOpType().equals("Transpose")).count();
  }

  /** x → conv1 → BN → ReLU → conv2 → BN → + x → ReLU → 1×1 conv3 → global pool → Gemm. */
  private ModelProto residualBlock() {
    Graph g = new Graph(14);
    g.addInput("x", new TensorType(Tensors.FLOAT, new long[] {BATCH, C, 4, 4}));
    conv(g, "conv1", "x", 3);
    batchNorm(g, "bn1", "conv1");
    g.addNode(new Node("relu1", "Relu", "", List.of("bn1"), List.of("relu1"), Map.of()));
    conv(g, "conv2", "relu1", 3);
    batchNorm(g, "bn2", "conv2");
    g.addNode(new Node("add", "Add", "", List.of("bn2", "x"), List.of("sum"), Map.of()));
    g.addNode(new Node("relu2", "Relu", "", List.of("sum"), List.of("relu2"), Map.of()));
    conv(g, "conv3", "relu2", 1);
    g.addNode(new Node("pool", "GlobalAveragePool", "", List.of("conv3"), List.of("pooled"), Map.of()));
    g.addNode(new Node("flat", "Flatten", "", List.of("pooled"), List.of("flat"), Map.of()));
    g.addInitializer(Tensors.floats("fc.w", new long[] {3, C}, gaussian(3 * C)));
    g.addInitializer(Tensors.floats("fc.b", new long[] {3}, gaussian(3)));
    g.addNode(new Node("fc", "Gemm", "", List.of("flat", "fc.w", "fc.b"), List.of("logits"),
        Map.of("transB", Attrs.i("transB", 1))));
    g.outputs().put("logits", new TensorType(Tensors.FLOAT, new long[] {BATCH, 3}));
    return g.toModel();
  }

  private void conv(Graph g, String name, String in, int k) {
    float[] w = gaussian(C * C * k * k);
    for (int i = 0; i < w.length; i++) {
      w[i] *= (float) Math.sqrt(2.0 / (C * k * k));
    }
    g.addInitializer(Tensors.floats(name + ".w", new long[] {C, C, k, k}, w));
    Map<String, AttributeProto> attrs = Map.of("kernel_shape", Attrs.ints("kernel_shape", k, k),
        "pads", Attrs.ints("pads", k / 2, k / 2, k / 2, k / 2));
    g.addNode(new Node(name, "Conv", "", List.of(in, name + ".w"), List.of(name), attrs));
  }

  private void batchNorm(Graph g, String name, String in) {
    float[] gamma = gaussian(C);
    for (int i = 0; i < C; i++) {
      gamma[i] = 1 + 0.2f * gamma[i];
    }
    g.addInitializer(Tensors.floats(name + ".weight", new long[] {C}, gamma));
    g.addInitializer(Tensors.floats(name + ".bias", new long[] {C}, gaussian(C)));
    g.addInitializer(Tensors.floats(name + ".running_mean", new long[] {C}, new float[C]));
    float[] ones = new float[C];
    java.util.Arrays.fill(ones, 1);
    g.addInitializer(Tensors.floats(name + ".running_var", new long[] {C}, ones));
    g.addNode(new Node(name, "BatchNormalization", "", List.of(in, name + ".weight", name + ".bias",
        name + ".running_mean", name + ".running_var"), List.of(name), Map.of("epsilon", Attrs.f("epsilon", 1e-5))));
  }

  private float[] gaussian(int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) random.nextGaussian();
    }
    return v;
  }
}
