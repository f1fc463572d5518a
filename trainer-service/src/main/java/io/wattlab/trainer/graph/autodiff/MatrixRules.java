package io.wattlab.trainer.graph.autodiff;

import io.wattlab.trainer.graph.Attrs;
import java.util.List;

/** Gradients of Gemm and MatMul. */
final class MatrixRules {
  private MatrixRules() {}

  static void register(GradientRegistry r) {
    r.register("Gemm", g -> {
      // Y = alpha * A' B' + beta * C with A' = transA ? A^T : A and B' likewise.
      long ta = g.node().attrInt("transA", 0);
      long tb = g.node().attrInt("transB", 0);
      double alpha = g.node().attrFloat("alpha", 1f);
      double beta = g.node().attrFloat("beta", 1f);
      String dy = g.GO(0);
      if (g.needs(0)) {
        g.GI(0, ta == 0
            ? gemm(g, dy, g.I(1), 0, 1 - tb, alpha)
            : gemm(g, g.I(1), dy, tb, 1, alpha));
      }
      if (g.needs(1)) {
        g.GI(1, tb == 0
            ? gemm(g, g.I(0), dy, 1 - ta, 0, alpha)
            : gemm(g, dy, g.I(0), 1, ta, alpha));
      }
      if (g.needs(2)) {
        String dc = g.sumToShape(dy, g.dims(g.O(0)), g.dims(g.I(2)));
        g.GI(2, beta == 1.0 ? dc : g.b().mul(dc, g.scalar(beta)));
      }
    });
    r.register("MatMul", g -> {
      long[] a = g.dims(g.I(0));
      long[] b = g.dims(g.I(1));
      long[] y = g.dims(g.O(0));
      if (g.needs(0)) {
        String d = g.b().matmul(g.GO(0), swapLast(g, g.I(1), b.length));
        long[] dDims = y.clone();
        dDims[y.length - 1] = a[a.length - 1];
        g.GI(0, g.sumToShape(d, dDims, a));
      }
      if (g.needs(1)) {
        String d = g.b().matmul(swapLast(g, g.I(0), a.length), g.GO(0));
        long[] dDims = y.clone();
        dDims[y.length - 2] = b[b.length - 2];
        g.GI(1, g.sumToShape(d, dDims, b));
      }
    });
  }

  private static String gemm(GradientContext g, String a, String b, long transA, long transB, double alpha) {
    return g.b().op("Gemm", List.of(a, b), Attrs.f("alpha", alpha), Attrs.i("transA", transA),
        Attrs.i("transB", transB));
  }

  private static String swapLast(GradientContext g, String x, int rank) {
    long[] perm = new long[rank];
    for (int i = 0; i < rank; i++) {
      perm[i] = i;
    }
    perm[rank - 1] = rank - 2;
    perm[rank - 2] = rank - 1;
    return g.b().transpose(x, perm);
  }
}
