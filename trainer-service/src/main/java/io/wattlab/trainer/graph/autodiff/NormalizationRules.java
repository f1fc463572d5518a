package io.wattlab.trainer.graph.autodiff;

import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.Node;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Batch normalisation in training mode as one differentiable step, {@value #NORMALIZE}: x to
 * (x - mean) / sqrt(var + eps) over all axes but 1, with outputs (xhat, mean, var, invStd). It
 * exists only between the training-graph builder and {@link #expand}, which rewrites it into
 * standard ops; its gradient is the closed form PyTorch uses,
 * dx = invStd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), which stays accurate where
 * differentiating the primitives one by one lost float32 precision in the BatchNorm biases.
 */
public final class NormalizationRules {
  /** Op type of the internal normalisation node (domain {@value #DOMAIN}). */
  public static final String NORMALIZE = "BatchNormalize";
  public static final String DOMAIN = "io.wattlab.internal";

  private NormalizationRules() {}

  static void register(GradientRegistry r) {
    r.register(NORMALIZE, g -> {
      int rank = g.dims(g.I(0)).length;
      long[] axes = axes(rank);
      String dxhat = g.GOorZeros(0);
      String meanD = g.b().reduceMeanKeepDims(dxhat, rank, axes);
      String meanDx = g.b().reduceMeanKeepDims(g.b().mul(dxhat, g.O(0)), rank, axes);
      String inner = g.b().sub(g.b().sub(dxhat, meanD), g.b().mul(g.O(0), meanDx));
      g.GI(0, g.b().mul(inner, g.O(3)));
    });
  }

  /** Appends a normalisation node and returns its outputs (xhat, mean, var, invStd). */
  public static List<String> normalize(GraphBuilder b, String x, double epsilon) {
    Graph g = b.graph();
    String name = g.fresh("train/" + NORMALIZE);
    List<String> outs = new ArrayList<>();
    for (String suffix : List.of("xhat", "mean", "var", "inv_std")) {
      outs.add(g.fresh(name + "_" + suffix));
    }
    g.addNode(new Node(name, NORMALIZE, DOMAIN, List.of(x), outs, Map.of("epsilon", Attrs.f("epsilon", epsilon))));
    return outs;
  }

  /** Rewrites every normalisation node into ReduceMean, Sub, Mul, Add, Sqrt and Reciprocal. */
  public static void expand(Graph g, Map<String, io.wattlab.trainer.graph.TensorType> inputs) {
    GraphBuilder b = new GraphBuilder(g, "bn/");
    for (Node n : new ArrayList<>(g.nodes())) {
      if (!n.opType().equals(NORMALIZE)) {
        continue;
      }
      g.nodes().remove(n);
      int rank = inputs.get(n.input(0)).rank();
      long[] axes = axes(rank);
      String x = n.input(0);
      b.opInto(n.output(1), "Identity", List.of(b.reduceMeanKeepDims(x, rank, axes)));
      String centered = b.sub(x, n.output(1));
      b.opInto(n.output(2), "Identity", List.of(b.reduceMeanKeepDims(b.mul(centered, centered), rank, axes)));
      String eps = b.scalar(n.attrFloat("epsilon", 1e-5f), inputs.get(n.input(0)).elemType());
      b.opInto(n.output(3), "Reciprocal", List.of(b.sqrt(b.add(n.output(2), eps))));
      b.opInto(n.output(0), "Mul", List.of(centered, n.output(3)));
    }
    g.sortTopologically();
  }

  static long[] axes(int rank) {
    long[] axes = new long[rank - 1];
    for (int i = 0, k = 0; i < rank; i++) {
      if (i != 1) {
        axes[k++] = i;
      }
    }
    return axes;
  }
}
