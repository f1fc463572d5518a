package io.wattlab.trainer.graph.autodiff;

import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.Tensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Batch normalisation in training mode as one differentiable step, {@value #NORMALIZE}: inputs
 * (x, gamma, beta), y = (x - mean) * scale + beta with scale = gamma / sqrt(var + eps), statistics
 * over all axes but 1; outputs (y, mean, var, invStd, centered, scale), the last two the
 * intermediates its gradient reads. It exists only between the training-graph builder and
 * {@link #expand}, which rewrites it into standard ops. Its gradient is the closed form PyTorch
 * uses, dx = scale * (dy - mean(dy) - centered * invStd^2 * mean(dy * centered)), which stays
 * accurate where differentiating the primitives one by one lost float32 precision in the
 * BatchNorm biases; the two per-channel sums it needs are the beta and gamma gradients, so the
 * backward makes two reductions and five elementwise passes, the forward three (the variance
 * is a ReduceSumSquare of the centred values, and gamma and 1/sigma are folded into one
 * per-channel scale before they touch the elements).
 */
public final class NormalizationRules {
  /** Op type of the internal normalisation node (domain {@value #DOMAIN}). */
  public static final String NORMALIZE = "BatchNormalize";
  public static final String DOMAIN = "io.wattlab.internal";

  private NormalizationRules() {}

  static void register(GradientRegistry r) {
    r.register(NORMALIZE, g -> {
      long[] x = g.dims(g.I(0));
      int channel = channelAxis(g.node());
      long count = Tensors.numel(x) / x[channel];
      String dy = g.GOorZeros(0);
      String sumDy = g.needs(0) || g.needs(2) ? reduce(g.b(), "ReduceSum", dy, x.length, channel) : null;
      String sumDyCentered = g.needs(0) || g.needs(1)
          ? reduce(g.b(), "ReduceSum", g.b().mul(dy, g.O(4)), x.length, channel) : null;
      if (g.needs(2)) {
        g.GI(2, g.b().reshape(sumDy, x[channel]));
      }
      if (g.needs(1)) {
        g.GI(1, g.b().reshape(g.b().mul(sumDyCentered, g.O(3)), x[channel]));
      }
      if (g.needs(0)) {
        String perCentered = g.b().mul(g.b().mul(g.O(3), g.O(3)), g.b().mul(sumDyCentered, g.scalar(1.0 / count)));
        String meanDy = g.b().mul(sumDy, g.scalar(1.0 / count));
        String inner = g.b().sub(dy, g.b().add(g.b().mul(g.O(4), perCentered), meanDy));
        g.GI(0, g.b().mul(inner, g.O(5)));
      }
    });
  }

  /**
   * Appends a normalisation node of x with affine gamma and beta ([C] each) writing y into
   * {@code y}, and returns its outputs (y, mean, var, invStd, centered, scale).
   */
  public static List<String> normalize(GraphBuilder b, String x, String gamma, String beta, String y,
      double epsilon) {
    return normalize(b, x, gamma, beta, y, epsilon, 1);
  }

  /**
   * As {@link #normalize(GraphBuilder, String, String, String, String, double)} with the channels
   * on {@code channelAxis}: 1 for NCHW, the last axis for activations kept as [N, H·W, C]
   * (see the trainer's ChannelsLast pass); the statistics are then shaped [1, 1, C].
   */
  public static List<String> normalize(GraphBuilder b, String x, String gamma, String beta, String y,
      double epsilon, int channelAxis) {
    Graph g = b.graph();
    String name = g.fresh("train/" + NORMALIZE);
    List<String> outs = new ArrayList<>(List.of(y));
    for (String suffix : List.of("mean", "var", "inv_std", "centered", "scale")) {
      outs.add(g.fresh(name + "_" + suffix));
    }
    g.addNode(new Node(name, NORMALIZE, DOMAIN, List.of(x, gamma, beta), outs,
        Map.of("epsilon", Attrs.f("epsilon", epsilon), "channel_axis", Attrs.i("channel_axis", channelAxis))));
    return outs;
  }

  /** Rewrites every normalisation node into ReduceMean, ReduceSumSquare, Sub, Mul, Add, Sqrt and Reciprocal. */
  public static void expand(Graph g, Map<String, TensorType> inputs) {
    GraphBuilder b = new GraphBuilder(g, "bn/");
    for (Node n : new ArrayList<>(g.nodes())) {
      if (!n.opType().equals(NORMALIZE)) {
        continue;
      }
      g.nodes().remove(n);
      TensorType type = inputs.get(n.input(0));
      int rank = type.rank();
      int channel = channelAxis(n);
      long[] perChannel = new long[rank];
      java.util.Arrays.fill(perChannel, 1);
      perChannel[channel] = type.dims()[channel];
      String x = n.input(0);
      b.opInto(n.output(1), "Identity", List.of(reduce(b, "ReduceMean", x, rank, channel)));
      b.opInto(n.output(4), "Sub", List.of(x, n.output(1)));
      String centered = n.output(4);
      long count = Tensors.numel(type.dims()) / type.dims()[channel];
      b.opInto(n.output(2), "Mul", List.of(reduce(b, "ReduceSumSquare", centered, rank, channel),
          b.scalar(1.0 / count, type.elemType())));
      String eps = b.scalar(n.attrFloat("epsilon", 1e-5f), type.elemType());
      b.opInto(n.output(3), "Reciprocal", List.of(b.sqrt(b.add(n.output(2), eps))));
      b.opInto(n.output(5), "Mul", List.of(b.reshape(n.input(1), perChannel), n.output(3)));
      b.opInto(n.output(0), "Add", List.of(b.mul(centered, n.output(5)), b.reshape(n.input(2), perChannel)));
    }
    g.sortTopologically();
  }

  static int channelAxis(Node n) {
    return (int) n.attrInt("channel_axis", 1);
  }

  /**
   * A per-channel reduction with keepdims over every axis but the channel's. Channels on axis 1:
   * in two stages, the spatial axes first, then the batch, as GraphBuilder#reduceSumKeepDims.
   */
  static String reduce(GraphBuilder b, String op, String x, int rank, int channel) {
    long[] others = new long[rank - 1];
    for (int i = 0, k = 0; i < rank; i++) {
      if (i != channel) {
        others[k++] = i;
      }
    }
    if (channel == rank - 1) {
      // [N, H·W, C] (or [N, C]): one reduction over the leading axes, which ONNX Runtime runs as a
      // sum of rows (in two stages mobilenet_v2 trained about 3 % slower; parity holds either way).
      return b.reduceInStages(op, x, others);
    }
    return b.reduceInStages(op, x, Arrays.copyOfRange(others, 1, others.length), new long[] {0});
  }
}
