package io.wattlab.trainer.graph;

/** Explicit pads, strides and dilations of Conv and pooling nodes, resolving auto_pad. */
public final class ConvGeometry {
  private ConvGeometry() {}

  /** Pads as [begin..., end...] for the spatial axes; x is the input shape, w the weight shape. */
  public static long[] pads(Node n, long[] x, long[] w) {
    int sp = x.length - 2;
    String auto = n.attrString("auto_pad", "NOTSET");
    if (auto.equals("NOTSET")) {
      long[] p = n.attrInts("pads");
      return p == null ? new long[2 * sp] : p;
    }
    long[] pads = new long[2 * sp];
    if (auto.equals("VALID")) {
      return pads;
    }
    long[] strides = strides(n, sp);
    long[] dil = dilations(n, sp);
    for (int i = 0; i < sp; i++) {
      long out = (x[2 + i] + strides[i] - 1) / strides[i];
      long eff = (w[2 + i] - 1) * dil[i] + 1;
      long total = Math.max(0, (out - 1) * strides[i] + eff - x[2 + i]);
      long small = total / 2;
      boolean upper = auto.equals("SAME_UPPER");
      pads[i] = upper ? small : total - small;
      pads[sp + i] = upper ? total - small : small;
    }
    return pads;
  }

  public static long[] strides(Node n, int spatial) {
    return ShapeInference.orOnes(n.attrInts("strides"), spatial);
  }

  public static long[] dilations(Node n, int spatial) {
    return ShapeInference.orOnes(n.attrInts("dilations"), spatial);
  }

  /** Receives one (output pixel, kernel tap, input pixel) triple of {@link #forEachTap}. */
  @FunctionalInterface
  public interface TapVisitor {
    void visit(long outputPixel, long tap, long inputPixel);
  }

  /**
   * Every output pixel, kernel tap and the input pixel it reads, of a 2-D convolution or pooling
   * node n with input shape x, kernel shape w and output shape y, where the tap meets the input
   * rather than padding; pixels and taps are flat row-major indices (oh·Wo + ow, kh·kw_size + kw,
   * ih·W + iw).
   */
  public static void forEachTap(Node n, long[] x, long[] w, long[] y, TapVisitor visitor) {
    long[] strides = strides(n, 2);
    long[] dil = dilations(n, 2);
    long[] pads = pads(n, x, w);
    for (long oh = 0; oh < y[2]; oh++) {
      for (long ow = 0; ow < y[3]; ow++) {
        for (long kh = 0; kh < w[2]; kh++) {
          for (long kw = 0; kw < w[3]; kw++) {
            long ih = oh * strides[0] - pads[0] + kh * dil[0];
            long iw = ow * strides[1] - pads[1] + kw * dil[1];
            if (ih >= 0 && ih < x[2] && iw >= 0 && iw < x[3]) {
              visitor.visit(oh * y[3] + ow, kh * w[3] + kw, ih * x[3] + iw);
            }
          }
        }
      }
    }
  }
}
