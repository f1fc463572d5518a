package io.wattlab.trainer.graph.autodiff;

import io.wattlab.trainer.graph.Attrs;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Gradients of ops that only move data: reshapes, transposes, concat/split, pad. */
final class ShapeRules {
  private ShapeRules() {}

  static void register(GradientRegistry r) {
    GradientRule reshapeBack = g -> g.GI(0, g.b().reshape(g.GO(0), g.dims(g.I(0))));
    for (String op : List.of("Reshape", "Flatten", "Squeeze", "Unsqueeze")) {
      r.register(op, reshapeBack);
    }
    r.register("Transpose", g -> {
      int rank = g.dims(g.I(0)).length;
      long[] perm = g.node().attrInts("perm");
      long[] inverse = new long[rank];
      for (int i = 0; i < rank; i++) {
        inverse[perm == null ? rank - 1 - i : (int) perm[i]] = i;
      }
      g.GI(0, g.b().transpose(g.GO(0), inverse));
    });
    r.register("Concat", g -> {
      int rank = g.dims(g.O(0)).length;
      long axis = g.node().attrInt("axis", 0);
      axis = axis < 0 ? axis + rank : axis;
      int n = g.node().inputs().size();
      long[] sizes = new long[n];
      for (int i = 0; i < n; i++) {
        sizes[i] = g.dims(g.I(i))[(int) axis];
      }
      List<String> parts = g.b().split(g.GO(0), axis, sizes);
      for (int i = 0; i < n; i++) {
        g.GI(i, parts.get(i));
      }
    });
    r.register("Split", g -> {
      int rank = g.dims(g.I(0)).length;
      long axis = g.node().attrInt("axis", 0);
      axis = axis < 0 ? axis + rank : axis;
      List<String> parts = new ArrayList<>();
      for (int i = 0; i < g.node().outputs().size(); i++) {
        parts.add(g.GOorZeros(i));
      }
      g.GI(0, g.b().concat(parts, axis));
    });
    r.register("Pad", g -> {
      String mode = g.node().attrString("mode", "constant");
      if (!mode.equals("constant")) {
        throw g.unsupported("Pad mode " + mode + " (only constant)");
      }
      long[] x = g.dims(g.I(0));
      long[] pads = g.shapes().value(g.I(1));
      if (pads == null) {
        throw g.unsupported("pads must be constant");
      }
      long[] axesIn = g.I(3).isEmpty() ? null : g.shapes().value(g.I(3));
      int k = pads.length / 2;
      long[] starts = new long[k];
      long[] ends = new long[k];
      long[] axes = new long[k];
      for (int j = 0; j < k; j++) {
        if (pads[j] < 0 || pads[j + k] < 0) {
          throw g.unsupported("negative pads");
        }
        axes[j] = axesIn == null ? j : (axesIn[j] < 0 ? axesIn[j] + x.length : axesIn[j]);
        starts[j] = pads[j];
        ends[j] = pads[j] + x[(int) axes[j]];
      }
      g.GI(0, g.b().slice(g.GO(0), starts, ends, axes));
    });
    r.register("Slice", g -> {
      // Slice of a float tensor: scatter the gradient back with a Pad (steps of 1 only).
      long[] x = g.dims(g.I(0));
      long[] starts = g.shapes().value(g.I(1));
      long[] ends = g.shapes().value(g.I(2));
      long[] axes = g.I(3).isEmpty() ? null : g.shapes().value(g.I(3));
      if (starts == null || ends == null || (!g.I(4).isEmpty())) {
        throw g.unsupported("Slice needs constant starts/ends and no steps");
      }
      long[] pads = new long[2 * x.length];
      for (int j = 0; j < starts.length; j++) {
        int ax = (int) (axes == null ? j : (axes[j] < 0 ? axes[j] + x.length : axes[j]));
        long s = Math.max(0, Math.min(x[ax], starts[j] < 0 ? starts[j] + x[ax] : starts[j]));
        long e = Math.max(0, Math.min(x[ax], ends[j] < 0 ? ends[j] + x[ax] : ends[j]));
        pads[ax] = s;
        pads[x.length + ax] = x[ax] - Math.max(s, e);
      }
      g.GI(0, g.b().op("Pad", List.of(g.GO(0), g.b().ints(pads)), Attrs.s("mode", "constant")));
    });
  }

  /** Broadcasts a reduced gradient back over the input of a Reduce* node, times a scale. */
  static String expandReduced(GradientContext g, String go, double scale) {
    long[] x = g.dims(g.I(0));
    long[] axes = g.shapes().reduceAxes(g.node());
    long[] kept = x.clone();
    for (long a : axes) {
      kept[(int) a] = 1;
    }
    String shaped = Arrays.equals(kept, g.dims(g.O(0))) ? go : g.b().reshape(go, kept);
    if (scale != 1.0) {
      shaped = g.b().mul(shaped, g.scalar(scale));
    }
    return g.b().expand(shaped, x);
  }
}
