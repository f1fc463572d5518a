package io.wattlab.trainer.train;

import io.wattlab.trainer.graph.ConvGeometry;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.ShapeInference;
import java.util.ArrayList;
import java.util.List;

/**
 * Rewrites depthwise convolutions on small feature maps into one batched MatMul per layer, before
 * the backward is built. ONNX Runtime's CPU Conv runs a grouped convolution as one small GEMM per
 * (image, channel) pair (its NCHWc kernels need constant weights, and a train step's weights are
 * inputs), so its cost follows batch × channels, not the map size: 5–14 ms, with the machine's
 * load, for a 960-channel 3×3 layer on a 64×960×1×1 map, forward (bench/training/RESULTS.md).
 *
 * <p>On a map of H×W inputs and P outputs per channel, a depthwise convolution is, per channel c,
 * a linear map y_c = x_c · A_c with A_c an [H·W, P] matrix whose entries are the kernel's taps or
 * zero (padding). A_c is built in the graph as MatMul(w as [C, kh·kw], S) with S a constant 0/1
 * selection matrix, and y = MatMul(x as [C, N, H·W], A as [C, H·W, P]): C GEMMs instead of N·C.
 * Every entry of A is one tap times 1 plus zeros, so A holds the taps exactly, and y differs from
 * Conv's only by the order of the additions; the backward follows from the MatMul, Transpose and
 * Reshape rules (dW sums the same products as Conv's weight gradient). A 1×1 map with a single
 * output is a per-channel Mul.
 */
final class DepthwiseConvs {
  /**
   * Largest input map (H·W) rewritten. A's work grows as (H·W)·P per image and channel while
   * Conv's per-call overhead does not depend on the map: with MobileNet-V2 at 32×32 the 8×8
   * maps gain as well, 16×16 maps neither gain nor lose (bench/training/RESULTS.md).
   */
  static final long MAX_INPUT_AREA = 64;

  private DepthwiseConvs() {}

  /** Rewrites every eligible Conv of the graph in place; returns how many were rewritten. */
  static int rewrite(Graph g) {
    return rewrite(g, false);
  }

  /** With {@code everySize}, depthwise convolutions on maps of any size (see BatchGemmConvs). */
  static int rewrite(Graph g, boolean everySize) {
    ShapeInference shapes = ShapeInference.run(g);
    GraphBuilder b = new GraphBuilder(g, "depthwise/");
    int rewritten = 0;
    for (Node n : new ArrayList<>(g.nodes())) {
      if (!n.opType().equals("Conv") || !n.domain().isEmpty()) {
        continue;
      }
      long[] x = shapes.dims(n.input(0));
      long[] w = shapes.dims(n.input(1));
      if (x.length != 4 || w[1] != 1 || w[0] != x[1] || n.attrInt("group", 1) != x[1] || x[1] == 1
          || (x[2] * x[3] > MAX_INPUT_AREA && !everySize)) {
        continue;
      }
      g.nodes().remove(n);
      lower(b, n, x, w, shapes.dims(n.output(0)), shapes.type(n.input(1)).elemType());
      rewritten++;
    }
    g.sortTopologically();
    return rewritten;
  }

  private static void lower(GraphBuilder b, Node n, long[] x, long[] w, long[] y, int elemType) {
    long c = x[1];
    long in = x[2] * x[3];
    long out = y[2] * y[3];
    long taps = w[2] * w[3];
    // S[tap, i * out + o] = 1 where output o reads input i through that tap.
    double[] select = new double[(int) (taps * in * out)];
    ConvGeometry.forEachTap(n, x, w, y, (o, t, i) -> select[(int) (t * in * out + i * out + o)] = 1);
    String s = b.constant(elemType, new long[] {taps, in * out}, select);
    String a = b.matmul(b.reshape(n.input(1), c, taps), s);
    String bias = n.inputs().size() > 2 && !n.input(2).isEmpty() ? n.input(2) : null;
    String result;
    if (in == 1 && out == 1) {
      result = b.mul(n.input(0), b.reshape(a, 1, c, 1, 1));
    } else {
      String xt = b.transpose(b.reshape(n.input(0), x[0], c, in), 1, 0, 2);
      String yt = b.matmul(xt, b.reshape(a, c, in, out));
      result = b.reshape(b.transpose(yt, 1, 0, 2), y);
    }
    if (bias != null) {
      result = b.add(result, b.reshape(bias, 1, c, 1, 1));
    }
    b.opInto(n.output(0), "Identity", List.of(result));
  }
}
