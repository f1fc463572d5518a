package io.wattlab.trainer.compress.quantize;

import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.onnx.Tensors;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Folds an inference BatchNormalization into the Conv before it: with {@code k = γ / √(var + ε)}
 * per output channel, {@code W' = k·W} and {@code b' = k·(b − mean) + β}, and the Conv then writes
 * the BatchNorm's output. Done before quantizing so that the int8 weights are the ones the model
 * really multiplies by (a BatchNorm after an int8 Conv would rescale its rounding error).
 */
final class BatchNormFolding {

  private BatchNormFolding() {}

  /** Folds every foldable pair in place; returns how many BatchNorms were folded. */
  static int fold(Graph g) {
    Map<String, Node> producers = g.producers();
    List<Node> folded = new ArrayList<>();
    for (Node bn : g.nodes()) {
      if (!bn.opType().equals("BatchNormalization") || bn.outputs().stream().skip(1).anyMatch(o -> !o.isEmpty())
          || bn.attrInt("training_mode", 0) != 0) {
        continue;
      }
      Node conv = producers.get(bn.input(0));
      if (conv == null || !conv.opType().equals("Conv") || consumers(g, conv.output(0)) != 1
          || g.outputs().containsKey(conv.output(0))) {
        continue;
      }
      TensorProto w = constant(g, producers, conv.input(1));
      TensorProto b = conv.input(2).isEmpty() ? null : constant(g, producers, conv.input(2));
      List<TensorProto> stats = new ArrayList<>();
      for (int i = 1; i <= 4; i++) {
        stats.add(constant(g, producers, bn.input(i)));
      }
      if (w == null || (!conv.input(2).isEmpty() && b == null) || stats.contains(null)
          || w.getDataType() != Tensors.FLOAT) {
        continue;
      }
      float[] gamma = Tensors.toFloats(stats.get(0));
      float[] beta = Tensors.toFloats(stats.get(1));
      float[] mean = Tensors.toFloats(stats.get(2));
      float[] var = Tensors.toFloats(stats.get(3));
      float eps = bn.attrFloat("epsilon", 1e-5f);
      long[] dims = Tensors.dims(w);
      int out = (int) dims[0];
      if (gamma.length != out) {
        continue;
      }
      float[] weights = Tensors.toFloats(w);
      float[] bias = b == null ? new float[out] : Tensors.toFloats(b);
      int perChannel = weights.length / out;
      float[] foldedBias = new float[out];
      for (int c = 0; c < out; c++) {
        double k = gamma[c] / Math.sqrt((double) var[c] + eps);
        for (int i = c * perChannel; i < (c + 1) * perChannel; i++) {
          weights[i] = (float) (weights[i] * k);
        }
        foldedBias[c] = (float) (k * (bias[c] - mean[c]) + beta[c]);
      }
      // New names: the original initializers may be shared with another node.
      String wName = g.fresh(conv.input(1) + "_folded");
      String bName = g.fresh(bn.input(2) + "_folded_bias");
      g.addInitializer(Tensors.floats(wName, dims, weights));
      g.addInitializer(Tensors.floats(bName, new long[] {out}, foldedBias));
      conv.inputs().set(1, wName);
      while (conv.inputs().size() < 3) {
        conv.inputs().add("");
      }
      conv.inputs().set(2, bName);
      conv.outputs().set(0, bn.output(0));
      folded.add(bn);
    }
    g.nodes().removeAll(folded);
    if (!folded.isEmpty()) {
      g.removeUnused();
    }
    return folded.size();
  }

  /**
   * The constant a value is: an initializer, directly or through Identity nodes (torch.onnx.export
   * stores equal-valued tensors once and names the copies with Identity), or a Constant node's
   * tensor; null when it is computed.
   */
  static TensorProto constant(Graph g, Map<String, Node> producers, String name) {
    for (int hops = 0; hops < 8 && !name.isEmpty(); hops++) {
      TensorProto t = g.initializers().get(name);
      if (t != null) {
        return t;
      }
      Node p = producers.get(name);
      if (p != null && p.opType().equals("Constant") && p.hasAttr("value")) {
        return p.attributes().get("value").getT();
      }
      if (p == null || !p.opType().equals("Identity")) {
        return null;
      }
      name = p.input(0);
    }
    return null;
  }

  static int consumers(Graph g, String tensor) {
    int n = 0;
    for (Node node : g.nodes()) {
      for (String in : node.inputs()) {
        if (in.equals(tensor)) {
          n++;
        }
      }
    }
    return n;
  }
}
