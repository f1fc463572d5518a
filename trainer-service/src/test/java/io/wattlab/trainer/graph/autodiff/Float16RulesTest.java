package io.wattlab.trainer.graph.autodiff;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.Sessions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Gradient rules inside a 16-bit region make their constants (zeros, 1/n, pooling kernels, clip
 * bounds) in the region's type, so ONNX Runtime accepts the graph and its gradient is float32's
 * within float16's rounding.
 */
class Float16RulesTest {

  private static final long[] X = {2, 3, 5, 5};

  /** loss = mean(gap(avgpool(clip(relu(cast(x)) * w)))) computed in {@code type}; returns d loss / d x. */
  private static float[] gradient(int type, float[] x) throws Exception {
    Graph g = new Graph(17);
    GraphBuilder b = new GraphBuilder(g, "f/");
    g.addInput("x", new TensorType(Tensors.FLOAT, X));
    String h = b.cast("x", type);
    String scaled = b.mul(b.op("Relu", h), b.constant(type, new long[] {3, 1, 1}, 0.5, -1.25, 2));
    String clipped = b.op("Clip", scaled, b.scalar(-1, type), b.scalar(1.5, type));
    String pooled = b.op("AveragePool", List.of(clipped), Attrs.ints("kernel_shape", 3, 3),
        Attrs.ints("pads", 1, 1, 1, 1), Attrs.i("count_include_pad", 0));
    String mean = b.op("ReduceMean", List.of(b.op("GlobalAveragePool", pooled)), Attrs.i("keepdims", 0));
    String loss = b.cast(b.op("Sqrt", b.add(mean, b.scalar(1, type))), Tensors.FLOAT);
    g.outputs().put(loss, new TensorType(Tensors.FLOAT, new long[0]));
    String dx = new Autodiff(GradientRegistry.standard()).differentiate(g, loss, List.of("x")).get("x");
    g.outputs().put(dx, new TensorType(Tensors.FLOAT, X));
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession s = Sessions.open(g.toModel(), ExecutionConfig.cpu(1));
         OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), X);
         OrtSession.Result r = s.run(Map.of("x", in))) {
      FloatBuffer out = ((OnnxTensor) r.get(dx).orElseThrow()).getFloatBuffer();
      float[] d = new float[out.remaining()];
      out.get(d);
      return d;
    }
  }

  @Test
  void rulesInAFloat16RegionGiveFloat32sGradientWithinFloat16Rounding() throws Exception {
    float[] x = new float[(int) Tensors.numel(X)];
    Random random = new Random(3);
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) random.nextGaussian();
    }
    float[] d32 = gradient(Tensors.FLOAT, x);
    float[] d16 = gradient(Tensors.FLOAT16, x);
    double scale = 0;
    double worst = 0;
    for (int i = 0; i < x.length; i++) {
      scale = Math.max(scale, Math.abs(d32[i]));
      worst = Math.max(worst, Math.abs(d16[i] - d32[i]));
    }
    assertTrue(scale > 0);
    // Each value is rounded to float16 (2^-11 relative) at each of about ten ops: 1% of the largest gradient.
    assertTrue(worst <= 1e-2 * scale, "float16 gradient off by " + worst + " of " + scale);
  }

  @Test
  void constantsOfTheReducedTypesHoldTheNearestValue() {
    TensorProto half = Tensors.ofType("h", Tensors.FLOAT16, new long[] {3}, 0.5, 0.1, -65504);
    ByteBuffer h = half.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    // numpy: np.float16([0.5, 0.1, -65504]).view(np.uint16) is [0x3800, 0x2E66, 0xFBFF].
    assertEquals(0x3800, h.getShort(0) & 0xFFFF);
    assertEquals(0x2E66, h.getShort(2) & 0xFFFF);
    assertEquals(0xFBFF, h.getShort(4) & 0xFFFF);
    TensorProto bf = Tensors.ofType("b", Tensors.BFLOAT16, new long[0], 0.1);
    // torch.tensor(0.1, dtype=torch.bfloat16).view(torch.int16) is 0x3DCD.
    assertEquals(0x3DCD, bf.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).getShort(0) & 0xFFFF);
    assertEquals(Tensors.BFLOAT16, bf.getDataType());
  }
}
