package io.wattlab.trainer.graph.autodiff;

import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.ConvGeometry;
import io.wattlab.trainer.onnx.Tensors;
import java.util.List;

/**
 * Gradients of 2-D convolution and pooling. The input gradients are ConvTranspose nodes with
 * explicit pads and output_padding (never auto_pad), or Conv with the kernel flipped where that
 * runs faster; the weight gradient a grouped Conv of the input with the output gradient as
 * kernel (a Gemm for 1x1 kernels), and MaxPool scatters through its flat NCHW indices.
 */
final class ConvRules {
  private ConvRules() {}

  static void register(GradientRegistry r) {
    r.register("Conv", ConvRules::conv);
    r.register("MaxPool", ConvRules::maxPool);
    r.register("AveragePool", ConvRules::averagePool);
    r.register("GlobalAveragePool", g -> {
      long[] x = g.dims(g.I(0));
      long area = 1;
      for (int i = 2; i < x.length; i++) {
        area *= x[i];
      }
      g.GI(0, g.b().expand(g.b().mul(g.GO(0), g.scalar(1.0 / area)), x));
    });
  }

  private static void conv(GradientContext g) {
    long[] x = g.dims(g.I(0));
    long[] w = g.dims(g.I(1));
    long[] y = g.dims(g.O(0));
    if (x.length != 4) {
      throw g.unsupported("only 2-D convolution (4-D input) is differentiated, got rank " + x.length);
    }
    long group = g.node().attrInt("group", 1);
    long[] strides = ConvGeometry.strides(g.node(), 2);
    long[] dil = ConvGeometry.dilations(g.node(), 2);
    long[] pads = ConvGeometry.pads(g.node(), x, w);
    String dy = g.GO(0);
    if (g.needs(0)) {
      // Grouped ConvTranspose is slow on ONNX Runtime's CPU; plain ConvTranspose is faster than
      // the Conv form for group 1 (ResNet-18 measured), so only grouped stride-1 convs use Conv,
      // and 1x1 ones, whose Conv is one GEMM per image where ConvTranspose adds a col2im.
      boolean byConv = strides[0] == 1 && strides[1] == 1 && (group > 1 || pointwise(w, strides, pads));
      g.GI(0, byConv ? inputGradientByConv(g, dy, w, group, dil, pads)
          : g.b().op("ConvTranspose", List.of(dy, g.I(1)), Attrs.i("group", group),
              Attrs.ints("strides", strides), Attrs.ints("dilations", dil), Attrs.ints("pads", pads),
              Attrs.ints("kernel_shape", w[2], w[3]),
              Attrs.ints("output_padding", outputPadding(g, x, w, y, strides, dil, pads))));
    }
    if (g.needs(1) && group == 1 && pointwise(w, strides, pads)) {
      // dW = sum over images and pixels of dY x^T: one GEMM over N*H*W, where the grouped-Conv
      // form below runs one matrix-vector product per input channel.
      long area = x[2] * x[3];
      String dyr = g.b().reshape(g.b().transpose(g.b().reshape(dy, x[0], w[0], area), 1, 0, 2), w[0], x[0] * area);
      String xr = g.b().reshape(g.b().transpose(g.b().reshape(g.I(0), x[0], x[1], area), 1, 0, 2), x[1], x[0] * area);
      g.GI(1, g.b().reshape(g.b().op("Gemm", List.of(dyr, xr), Attrs.i("transB", 1)), w));
    } else if (g.needs(1)) {
      long n = x[0];
      long cg = x[1] / group;
      long og = w[0] / group;
      // Input as [Cg, group*N, H, W] and dY as kernels [group*Og, N, Ho, Wo]: a grouped Conv
      // with strides and dilations swapped gives dW transposed, [Cg, group*Og, kh', kw'].
      String xr = g.b().reshape(g.b().transpose(g.b().reshape(g.I(0), n, group, cg, x[2], x[3]), 2, 1, 0, 3, 4),
          cg, group * n, x[2], x[3]);
      String dyr = g.b().reshape(g.b().transpose(g.b().reshape(dy, n, group, og, y[2], y[3]), 1, 2, 0, 3, 4),
          group * og, n, y[2], y[3]);
      String dwt = g.b().op("Conv", List.of(xr, dyr), Attrs.i("group", group), Attrs.ints("strides", dil),
          Attrs.ints("dilations", strides), Attrs.ints("pads", pads), Attrs.ints("kernel_shape", y[2], y[3]));
      long[] full = new long[2];
      for (int i = 0; i < 2; i++) {
        full[i] = (x[2 + i] + pads[i] + pads[2 + i] - ((y[2 + i] - 1) * strides[i] + 1)) / dil[i] + 1;
      }
      if (full[0] != w[2] || full[1] != w[3]) {
        dwt = g.b().slice(dwt, new long[] {0, 0}, new long[] {w[2], w[3]}, new long[] {2, 3});
      }
      g.GI(1, g.b().transpose(dwt, 1, 0, 2, 3));
    }
    if (g.needs(2)) {
      g.GI(2, g.b().reshape(g.b().reduceSumKeepDims(dy, 4, 0, 2, 3), w[0]));
    }
  }

  /** A 1×1 kernel, stride 1, no padding: a matrix product at every pixel. */
  private static boolean pointwise(long[] w, long[] strides, long[] pads) {
    return w[2] == 1 && w[3] == 1 && strides[0] == 1 && strides[1] == 1 && pads[0] == 0 && pads[1] == 0
        && pads[2] == 0 && pads[3] == 0;
  }

  /**
   * dX of a stride-1 convolution as a plain Conv of dY with the kernel flipped and its in/out
   * channels swapped per group (ONNX Runtime's Conv kernels are much faster than its grouped
   * ConvTranspose, which dominated MobileNet's backward).
   */
  private static String inputGradientByConv(GradientContext g, String dy, long[] w, long group, long[] dil,
      long[] pads) {
    long og = w[0] / group;
    long cg = w[1];
    String k = g.I(1);
    if (og != 1 || cg != 1) {
      k = g.b().reshape(g.b().transpose(g.b().reshape(k, group, og, cg, w[2], w[3]), 0, 2, 1, 3, 4),
          group * cg, og, w[2], w[3]);
    }
    String flipped = w[2] == 1 && w[3] == 1 ? k : g.b().op("Slice", k, g.b().ints(-1, -1),
        g.b().ints(Long.MIN_VALUE, Long.MIN_VALUE), g.b().ints(2, 3), g.b().ints(-1, -1));
    long[] newPads = new long[4];
    for (int i = 0; i < 2; i++) {
      long reach = dil[i] * (w[2 + i] - 1);
      newPads[i] = reach - pads[i];
      newPads[2 + i] = reach - pads[2 + i];
      if (newPads[i] < 0 || newPads[2 + i] < 0) {
        throw g.unsupported("pads larger than the dilated kernel");
      }
    }
    return g.b().op("Conv", List.of(dy, flipped), Attrs.i("group", group), Attrs.ints("dilations", dil),
        Attrs.ints("pads", newPads), Attrs.ints("kernel_shape", w[2], w[3]));
  }

  /** output_padding so that ConvTranspose restores the forward input's spatial size exactly. */
  private static long[] outputPadding(GradientContext g, long[] x, long[] w, long[] y, long[] strides,
      long[] dil, long[] pads) {
    long[] out = new long[2];
    for (int i = 0; i < 2; i++) {
      long produced = strides[i] * (y[2 + i] - 1) + (w[2 + i] - 1) * dil[i] + 1 - pads[i] - pads[2 + i];
      out[i] = x[2 + i] - produced;
      if (out[i] < 0) {
        throw g.unsupported("windows run past the input (ceil_mode?) on axis " + (2 + i));
      }
    }
    return out;
  }

  private static void maxPool(GradientContext g) {
    if (g.node().attrInt("storage_order", 0) != 0) {
      throw g.unsupported("MaxPool storage_order=1");
    }
    long[] x = g.dims(g.I(0));
    long[] y = g.dims(g.O(0));
    String indices = g.ensureOutput(1, y, Tensors.INT64);
    long numel = Tensors.numel(x);
    // Indices are flat offsets into the whole NCHW input, so one scatter-add over the flat input works.
    String flat = g.b().op("ScatterElements",
        List.of(g.zeros(new long[] {numel}), g.b().reshape(indices, -1), g.b().reshape(g.GO(0), -1)),
        Attrs.i("axis", 0), Attrs.s("reduction", "add"));
    g.GI(0, g.b().reshape(flat, x));
  }

  private static void averagePool(GradientContext g) {
    long[] x = g.dims(g.I(0));
    long[] y = g.dims(g.O(0));
    if (x.length != 4) {
      throw g.unsupported("only 2-D pooling is differentiated");
    }
    long[] k = g.node().attrInts("kernel_shape");
    long[] strides = ConvGeometry.strides(g.node(), 2);
    long[] dil = ConvGeometry.dilations(g.node(), 2);
    long[] w = {x[1], 1, k[0], k[1]};
    long[] pads = ConvGeometry.pads(g.node(), x, w);
    boolean padded = false;
    for (long p : pads) {
      padded |= p != 0;
    }
    boolean includePad = g.node().attrInt("count_include_pad", 0) == 1;
    String dy = g.GO(0);
    double weight = 1.0 / (k[0] * k[1]);
    if (padded && !includePad) {
      // Each window divides by the number of real (unpadded) inputs it covers.
      String ones = g.b().expand(g.scalar(1), x);
      String frac = g.b().op("AveragePool", List.of(ones), Attrs.ints("kernel_shape", k),
          Attrs.ints("strides", strides), Attrs.ints("pads", pads), Attrs.i("count_include_pad", 1),
          Attrs.i("ceil_mode", g.node().attrInt("ceil_mode", 0)));
      dy = g.b().div(dy, g.b().mul(frac, g.scalar(k[0] * k[1])));
      weight = 1.0;
    }
    double[] kernel = new double[(int) (x[1] * k[0] * k[1])];
    java.util.Arrays.fill(kernel, weight);
    String kw = g.b().constant(g.elemType(), w, kernel);
    g.GI(0, g.b().op("ConvTranspose", List.of(dy, kw), Attrs.i("group", x[1]),
        Attrs.ints("strides", strides), Attrs.ints("dilations", dil), Attrs.ints("pads", pads),
        Attrs.ints("kernel_shape", k), Attrs.ints("output_padding", outputPadding(g, x, w, y, strides, dil, pads))));
  }

}
