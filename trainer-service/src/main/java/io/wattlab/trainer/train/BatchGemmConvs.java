package io.wattlab.trainer.train;

import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.ConvGeometry;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.ShapeInference;
import io.wattlab.trainer.onnx.Tensors;
import java.util.ArrayList;
import java.util.List;

/**
 * Rewrites dense convolutions on small feature maps as one GEMM over the whole batch, before the
 * backward is built. ONNX Runtime's CPU Conv with non-constant weights (a train step's are inputs)
 * runs im2col and one GEMM per image: on ResNet-18's 8×8 to 2×2 maps at 32×32 input those are
 * products with 64 to 4 columns, and its backward (ConvTranspose for dX, a Conv with dY as kernel
 * for dW) is no better shaped.
 *
 * <p>Here the im2col is explicit: with the input as [N, H·W, C], a MatMul by a constant 0/1
 * selection matrix S of shape [P·T, H·W] (P output pixels, T kernel taps; S[p·T + t, i] = 1 where
 * output p reads input i through tap t) gives the columns [N·P, T·C], and the convolution is one
 * Gemm of those with the kernel as [M, T·C] (bias included). The backward then follows from the
 * MatMul, Gemm, Transpose and Reshape rules: dW and the columns' gradient are Gemms over all N·P
 * rows, and col2im is the MatMul by S's transpose. Every column entry is one input times 1 plus
 * zeros, so the result differs from Conv's only in the order of the additions.
 *
 * <p>The selection costs N·P·T·H·W·C multiply-adds against the convolution's N·P·T·C·M, so it is
 * used where the map has at most as many pixels as the layer has output channels. Convolutions in
 * a 16-bit forward pass (mixed precision) keep their Conv: with the batch folded in, dW sums N·P
 * products, and the gradients of the 16-bit Gemm form came out up to 15 % away from the float32
 * graph's where Conv's are within 1.2e-3 (MixedPrecisionTrainingTest, on ONNX Runtime's CPU).
 */
final class BatchGemmConvs {
  /** Largest input map (H·W) rewritten; S is [P·T, H·W], 576×64 at this size with a 3×3 kernel. */
  static final long MAX_INPUT_AREA = 64;

  private BatchGemmConvs() {}

  /** Rewrites every eligible Conv of the graph in place; returns how many were rewritten. */
  static int rewrite(Graph g) {
    return rewrite(g, false, new ChannelsLast.Forms());
  }

  /**
   * As {@link #rewrite(Graph)}, recording in {@code forms} the [N, H·W, C] values it makes and
   * reads. With {@code everySize}, every dense 2-D convolution of a 32- or 64-bit float type is
   * rewritten whatever its map and channel counts: ONNX Runtime's CPU Conv has no float64 kernel,
   * so a float64 train step (the reference runs of the parity tests) has to do without Conv.
   */
  static int rewrite(Graph g, boolean everySize, ChannelsLast.Forms forms) {
    ShapeInference shapes = ShapeInference.run(g);
    GraphBuilder b = new GraphBuilder(g, "gemmconv/");
    int rewritten = 0;
    for (Node n : new ArrayList<>(g.nodes())) {
      if (!n.opType().equals("Conv") || !n.domain().isEmpty() || n.attrInt("group", 1) != 1) {
        continue;
      }
      long[] x = shapes.dims(n.input(0));
      long[] w = shapes.dims(n.input(1));
      int elemType = shapes.type(n.input(1)).elemType();
      boolean reduced = elemType == Tensors.FLOAT16 || elemType == Tensors.BFLOAT16;
      boolean small = x.length == 4 && x[2] * x[3] <= MAX_INPUT_AREA && x[2] * x[3] <= w[0];
      if (x.length != 4 || reduced || !(small || everySize)) {
        continue;
      }
      g.nodes().remove(n);
      lower(b, n, x, w, shapes.dims(n.output(0)), elemType, forms);
      rewritten++;
    }
    g.sortTopologically();
    return rewritten;
  }

  private static void lower(GraphBuilder b, Node n, long[] x, long[] w, long[] y, int elemType,
      ChannelsLast.Forms forms) {
    long[] strides = ConvGeometry.strides(n, 2);
    long[] pads = ConvGeometry.pads(n, x, w);
    long batch = x[0];
    long c = x[1];
    long m = w[0];
    long in = x[2] * x[3];
    long out = y[2] * y[3];
    long taps = w[2] * w[3];
    String xt = b.transpose(b.reshape(n.input(0), batch, c, in), 0, 2, 1);
    String cols;
    if (taps == 1 && out == in && strides[0] == 1 && strides[1] == 1 && pads[0] == 0 && pads[1] == 0) {
      cols = b.reshape(xt, batch * out, c);  // a 1×1 kernel that reads every pixel in place: S = I
    } else {
      double[] select = new double[(int) (out * taps * in)];
      ConvGeometry.forEachTap(n, x, w, y, (o, t, i) -> select[(int) ((o * taps + t) * in + i)] = 1);
      String s = b.constant(elemType, new long[] {out * taps, in}, select);
      cols = b.reshape(b.matmul(s, xt), batch * out, taps * c);
    }
    // [M, C, T] to [M, T·C]; with one tap (1×1 kernels, and those PaddingTaps cropped to 1×1) the
    // order is already right and the transpose would only copy.
    String kernel = taps == 1 ? b.reshape(n.input(1), m, c)
        : b.reshape(b.transpose(b.reshape(n.input(1), m, c, taps), 0, 2, 1), m, taps * c);
    List<String> inputs = new ArrayList<>(List.of(cols, kernel));
    if (n.inputs().size() > 2 && !n.input(2).isEmpty()) {
      inputs.add(n.input(2));
    }
    String product = b.reshape(b.op("Gemm", inputs, Attrs.i("transB", 1)), batch, out, m);
    b.opInto(n.output(0), "Reshape", List.of(b.transpose(product, 0, 2, 1), b.ints(y)));
    forms.read(xt, n.input(0));
    forms.made(n.output(0), product);
  }
}
