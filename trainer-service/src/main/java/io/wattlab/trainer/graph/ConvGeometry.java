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
}
