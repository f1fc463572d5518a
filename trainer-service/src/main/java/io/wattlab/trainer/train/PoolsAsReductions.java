package io.wattlab.trainer.train;

import io.wattlab.trainer.graph.ConvGeometry;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.ShapeInference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Rewrites average pooling as ReduceMean, before the backward is built, for graphs that must run
 * in float64: ONNX Runtime's CPU provider has float64 kernels for ReduceMean, Reshape and the
 * gradient's Expand, but none for GlobalAveragePool or AveragePool (nor for the ConvTranspose of
 * AveragePool's gradient rule). GlobalAveragePool on [N, C, H, W] is the mean over axes 2 and 3;
 * an AveragePool whose windows tile the map (kernel equal to strides, no padding, no dilation,
 * sides divisible) is a Reshape to [N, C, H/kh, kh, W/kw, kw] and the mean over axes 3 and 5.
 * Other average pools are left as they are.
 */
final class PoolsAsReductions {
  private PoolsAsReductions() {}

  /** Rewrites every eligible pool of the graph in place; returns how many were rewritten. */
  static int rewrite(Graph g) {
    ShapeInference shapes = ShapeInference.run(g);
    GraphBuilder b = new GraphBuilder(g, "poolmean/");
    int rewritten = 0;
    for (Node n : new ArrayList<>(g.nodes())) {
      if (!n.domain().isEmpty() || !(n.opType().equals("GlobalAveragePool") || n.opType().equals("AveragePool"))) {
        continue;
      }
      long[] x = shapes.dims(n.input(0));
      if (n.opType().equals("GlobalAveragePool") && x.length == 4) {
        g.nodes().remove(n);
        b.opInto(n.output(0), "Identity", List.of(b.reduceMean(n.input(0), true, 2, 3)));
        rewritten++;
      } else if (n.opType().equals("AveragePool") && x.length == 4 && tiles(n, x)) {
        long[] k = n.attrInts("kernel_shape");
        g.nodes().remove(n);
        String windows = b.reshape(n.input(0), x[0], x[1], x[2] / k[0], k[0], x[3] / k[1], k[1]);
        b.opInto(n.output(0), "Identity", List.of(b.reduceMean(windows, false, 3, 5)));
        rewritten++;
      }
    }
    g.sortTopologically();
    return rewritten;
  }

  private static boolean tiles(Node n, long[] x) {
    long[] k = n.attrInts("kernel_shape");
    if (k.length != 2 || !n.attrString("auto_pad", "NOTSET").equals("NOTSET")) {
      return false;
    }
    long[] pads = ConvGeometry.pads(n, x, new long[] {x[1], 1, k[0], k[1]});
    return Arrays.equals(k, ConvGeometry.strides(n, 2)) && Arrays.stream(pads).allMatch(p -> p == 0)
        && Arrays.stream(ConvGeometry.dilations(n, 2)).allMatch(d -> d == 1)
        && n.attrInt("ceil_mode", 0) == 0 && x[2] % k[0] == 0 && x[3] % k[1] == 0;
  }
}
