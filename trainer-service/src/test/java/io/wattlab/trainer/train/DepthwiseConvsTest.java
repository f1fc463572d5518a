package io.wattlab.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.ShapeInference;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.graph.autodiff.Autodiff;
import io.wattlab.trainer.graph.autodiff.GradientRegistry;
import io.wattlab.trainer.onnx.Tensors;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.ToIntFunction;
import org.junit.jupiter.api.Test;

/**
 * The depthwise rewrite against ONNX Runtime's Conv and the Conv gradient rule (itself checked
 * against finite differences): same output, input, weight and bias gradients up to float32
 * rounding, on the map sizes, strides, paddings and kernels of MobileNet-V2 and EfficientNet at
 * 32x32 and a few more.
 */
class DepthwiseConvsTest {
  private static final double TOLERANCE = 1e-6;

  @Test
  void oneByOneMapIsAPerChannelMul() throws Exception {
    List<String> ops = check(new long[] {4, 6, 1, 1}, new long[] {6, 1, 3, 3}, new long[] {1, 1},
        new long[] {1, 1, 1, 1}, new long[] {1, 1}, false);
    assertTrue(ops.contains("Mul") && !ops.contains("Conv") && !ops.contains("Transpose"), ops.toString());
  }

  @Test
  void smallMapsBecomeOneBatchedMatMul() throws Exception {
    // MobileNet-V2 at 32x32: 2x2, 4x4 and 8x8 maps, stride 1 and 2, pad 1; EfficientNet: 5x5 kernels, pad 2.
    long[] one = {1, 1};
    long[] pad1 = {1, 1, 1, 1};
    assertFalse(check(new long[] {3, 5, 2, 2}, new long[] {5, 1, 3, 3}, one, pad1, one, false).contains("Conv"));
    assertFalse(check(new long[] {3, 5, 2, 2}, new long[] {5, 1, 3, 3}, new long[] {2, 2}, pad1, one, true)
        .contains("Conv"));
    assertFalse(check(new long[] {2, 4, 4, 4}, new long[] {4, 1, 3, 3}, new long[] {2, 2}, pad1, one, false)
        .contains("Conv"));
    assertFalse(check(new long[] {2, 4, 4, 4}, new long[] {4, 1, 5, 5}, one, new long[] {2, 2, 2, 2}, one,
        true).contains("Conv"));
    for (long[] strides : List.of(one, new long[] {2, 2})) {
      assertFalse(check(new long[] {3, 4, 8, 8}, new long[] {4, 1, 3, 3}, strides, pad1, one, false).contains("Conv"));
    }
    // Not square, asymmetric pads, dilation, a window that overhangs only one side.
    assertFalse(check(new long[] {2, 3, 3, 5}, new long[] {3, 1, 3, 2}, new long[] {2, 1},
        new long[] {0, 1, 2, 0}, new long[] {1, 2}, true).contains("Conv"));
  }

  @Test
  void largeMapsAndOtherGroupingsKeepTheirConv() {
    long[] one = {1, 1};
    long[] pad1 = {1, 1, 1, 1};
    Graph grouped = graph(new long[] {2, 4, 2, 2}, new long[] {4, 2, 3, 3}, 2, one, pad1, one, false);
    assertEquals(0, DepthwiseConvs.rewrite(grouped), "two channels per group is not depthwise");
    Graph multiplier = graph(new long[] {2, 4, 2, 2}, new long[] {8, 1, 3, 3}, 4, one, pad1, one, false);
    assertEquals(0, DepthwiseConvs.rewrite(multiplier), "two outputs per channel are left to Conv");
    Graph large = graph(new long[] {2, 4, 16, 16}, new long[] {4, 1, 3, 3}, 4, one, pad1, one, false);
    assertEquals(0, DepthwiseConvs.rewrite(large), "a 16x16 map stays a Conv");
  }

  private static List<String> check(long[] x, long[] w, long[] strides, long[] pads, long[] dil, boolean bias)
      throws Exception {
    return compareWithConv(x, w, x[1], strides, pads, dil, bias, DepthwiseConvs::rewrite);
  }

  /**
   * Runs one Conv and its rewrite by {@code pass} with their gradients, checks that the pass
   * changed it and that outputs and gradients agree; returns the op types of the rewritten
   * forward graph.
   */
  static List<String> compareWithConv(long[] x, long[] w, long group, long[] strides, long[] pads, long[] dil,
      boolean bias, ToIntFunction<Graph> pass) throws Exception {
    Graph conv = graph(x, w, group, strides, pads, dil, bias);
    Graph lowered = graph(x, w, group, strides, pads, dil, bias);
    assertEquals(1, pass.applyAsInt(lowered), "the Conv is rewritten");
    List<String> ops = lowered.nodes().stream().map(Node::opType).toList();
    Random random = new Random(7);
    Map<String, float[]> feeds = new LinkedHashMap<>();
    for (var e : conv.inputs().entrySet()) {
      float[] v = new float[(int) Tensors.numel(e.getValue().dims())];
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) random.nextGaussian();
      }
      feeds.put(e.getKey(), v);
    }
    long[] y = ShapeInference.run(conv).dims("y");
    float[] weights = new float[(int) Tensors.numel(y)];
    for (int i = 0; i < weights.length; i++) {
      weights[i] = (float) random.nextGaussian();
    }
    Map<String, float[]> expected = run(conv, feeds, weights);
    Map<String, float[]> actual = run(lowered, feeds, weights);
    for (String name : expected.keySet()) {
      double err = Reference.relativeError(actual.get(name), expected.get(name));
      assertTrue(err < TOLERANCE, () -> name + " of the rewritten conv is " + err + " away from Conv's");
    }
    return ops;
  }

  static Graph graph(long[] x, long[] w, long group, long[] strides, long[] pads, long[] dil,
      boolean bias) {
    Graph g = new Graph(17);
    g.addInput("x", new TensorType(Tensors.FLOAT, x));
    g.addInput("w", new TensorType(Tensors.FLOAT, w));
    List<String> inputs = new ArrayList<>(List.of("x", "w"));
    if (bias) {
      g.addInput("b", new TensorType(Tensors.FLOAT, new long[] {w[0]}));
      inputs.add("b");
    }
    Map<String, ai.onnx.proto.OnnxMl.AttributeProto> attrs = new LinkedHashMap<>();
    attrs.put("group", Attrs.i("group", group));
    attrs.put("strides", Attrs.ints("strides", strides));
    attrs.put("pads", Attrs.ints("pads", pads));
    attrs.put("dilations", Attrs.ints("dilations", dil));
    attrs.put("kernel_shape", Attrs.ints("kernel_shape", w[2], w[3]));
    g.addNode(new Node("conv", "Conv", "", inputs, List.of("y"), attrs));
    return g;
  }

  /** y, and the gradients of sum(y * weights) with respect to every input. */
  private static Map<String, float[]> run(Graph g, Map<String, float[]> feeds, float[] weights) throws Exception {
    long[] y = ShapeInference.run(g).dims("y");
    GraphBuilder b = new GraphBuilder(g, "loss/");
    double[] w = new double[weights.length];
    for (int i = 0; i < w.length; i++) {
      w[i] = weights[i];
    }
    String loss = b.reduceSumAll(b.mul("y", b.constant(Tensors.FLOAT, y, w)));
    g.outputs().put(loss, new TensorType(Tensors.FLOAT, new long[0]));
    Map<String, String> grads = new Autodiff(GradientRegistry.standard()).differentiate(g, loss,
        List.copyOf(g.inputs().keySet()));
    g.outputs().put("y", new TensorType(Tensors.FLOAT, y));
    grads.forEach((input, grad) -> g.outputs().put(grad, g.inputs().get(input)));
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    Map<String, OnnxTensor> in = new LinkedHashMap<>();
    for (var e : feeds.entrySet()) {
      in.put(e.getKey(), OnnxTensor.createTensor(env, FloatBuffer.wrap(e.getValue()), g.inputs().get(e.getKey()).dims()));
    }
    Map<String, float[]> out = new LinkedHashMap<>();
    try (OrtSession s = Sessions.open(g.toModel(), ExecutionConfig.cpu(1)); OrtSession.Result r = s.run(in)) {
      out.put("y", read(r, "y"));
      grads.forEach((input, grad) -> out.put("d" + input, read(r, grad)));
    } finally {
      in.values().forEach(OnnxTensor::close);
    }
    return out;
  }

  private static float[] read(OrtSession.Result r, String name) {
    FloatBuffer buf = ((OnnxTensor) r.get(name).orElseThrow()).getFloatBuffer();
    float[] v = new float[buf.remaining()];
    buf.get(v);
    return v;
  }

}
