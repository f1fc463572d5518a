package io.wattlab.trainer.compress.prune;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.compress.Compressed;
import io.wattlab.trainer.compress.CompressionException;
import io.wattlab.trainer.compress.CompressionPass;
import io.wattlab.trainer.compress.PassParameters;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.train.ParameterConstraint;
import java.nio.FloatBuffer;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.StringJoiner;

/**
 * Technique {@code prune}: unstructured magnitude pruning of Conv, Gemm and MatMul weights, per
 * layer or with one global threshold, at once or gradually over the epochs; the zeros are kept
 * through training by a {@link PruningMask}.
 */
public final class MagnitudePruning implements CompressionPass {

  public static final String TECHNIQUE = "prune";

  /** Layers listed one by one in the details up to this many; beyond, only the extremes. */
  private static final int LISTED_LAYERS = 8;

  private final PassParameters parameters;
  private final double sparsity;
  private final PruneScope scope;
  private final SparsitySchedule schedule;

  public MagnitudePruning(PassParameters parameters) {
    this.parameters = parameters;
    this.sparsity = parameters.number("sparsity", 0.5, 0, 1);
    if (sparsity >= 1) {
      throw PassParameters.invalid("sparsity", "1 would zero every weight; give a fraction in [0, 1)");
    }
    this.scope = PruneScope.valueOf(parameters.choice("scope", "layer", "global").toUpperCase(Locale.ROOT));
    this.schedule = SparsitySchedule.valueOf(parameters.choice("schedule", "oneshot", "gradual")
        .toUpperCase(Locale.ROOT));
  }

  @Override
  public String technique() {
    return TECHNIQUE;
  }

  @Override
  public PassParameters parameters() {
    return parameters;
  }

  @Override
  public Compressed apply(ModelProto model) {
    GraphProto graph = model.getGraph();
    Map<String, Integer> initializerIndex = new HashMap<>();
    for (int i = 0; i < graph.getInitializerCount(); i++) {
      initializerIndex.put(graph.getInitializer(i).getName(), i);
    }
    LinkedHashMap<String, float[]> weights = prunableWeights(graph, initializerIndex);
    if (weights.isEmpty()) {
      if (sparsity > 0) {
        throw new CompressionException("the model has no Conv, Gemm or MatMul weight stored as an initializer; "
            + "there is nothing to prune");
      }
      return Compressed.of(model, Map.of("prunable_parameters", "0"));
    }
    LinkedHashMap<String, FloatBuffer> buffers = new LinkedHashMap<>();
    LinkedHashMap<String, Integer> sizes = new LinkedHashMap<>();
    weights.forEach((name, w) -> {
      buffers.put(name, FloatBuffer.wrap(w));
      sizes.put(name, w.length);
    });
    double passSparsity = schedule.atPass(sparsity);
    MagnitudeSelection.Result selection = MagnitudeSelection.select(buffers, passSparsity, scope, Map.of());

    ModelProto.Builder out = model.toBuilder();
    GraphProto.Builder g = out.getGraphBuilder();
    selection.pruned().forEach((name, positions) -> {
      if (positions.isEmpty()) {
        return;  // an untouched tensor keeps its bytes as they were: sparsity 0 is an identity
      }
      float[] w = weights.get(name);
      for (int i = positions.nextSetBit(0); i >= 0; i = positions.nextSetBit(i + 1)) {
        w[i] = 0f;
      }
      int at = initializerIndex.get(name);
      TensorProto old = g.getInitializer(at);
      g.setInitializer(at, Tensors.floats(name, Tensors.dims(old), w).toBuilder().setDocString(old.getDocString()));
    });
    List<ParameterConstraint> constraints = sparsity == 0 ? List.of()
        : List.of(new PruningMask(sizes, scope, schedule, sparsity, selection.pruned(), passSparsity));
    return new Compressed(out.build(), details(sizes, selection), constraints);
  }

  /**
   * Conv's W, Gemm's A or B and either MatMul operand when it is a float initializer, in the order
   * the graph first uses them; biases (Conv's and Gemm's third input), BatchNorm and shape
   * constants are never pruned.
   */
  private static LinkedHashMap<String, float[]> prunableWeights(GraphProto graph, Map<String, Integer> initializers) {
    LinkedHashMap<String, float[]> weights = new LinkedHashMap<>();
    for (NodeProto n : graph.getNodeList()) {
      if (!n.getDomain().isEmpty() && !n.getDomain().equals("ai.onnx")) {
        continue;
      }
      int[] operands = switch (n.getOpType()) {
        case "Conv" -> new int[] {1};
        case "Gemm", "MatMul" -> new int[] {0, 1};
        default -> new int[0];
      };
      for (int i : operands) {
        String name = i < n.getInputCount() ? n.getInput(i) : "";
        Integer at = initializers.get(name);
        if (at == null || weights.containsKey(name)) {
          continue;
        }
        TensorProto t = graph.getInitializer(at);
        if (t.getDataType() != Tensors.FLOAT) {
          throw new CompressionException("node " + n.getName() + " (" + n.getOpType() + "): weight " + name
              + " is " + TensorProto.DataType.forNumber(t.getDataType()) + "; prune handles float32 weights");
        }
        weights.put(name, Tensors.toFloats(t));
      }
    }
    return weights;
  }

  private Map<String, String> details(LinkedHashMap<String, Integer> sizes, MagnitudeSelection.Result selection) {
    long total = 0;
    long pruned = 0;
    int layersPruned = 0;
    String minLayer = null;
    String maxLayer = null;
    double min = Double.POSITIVE_INFINITY;
    double max = Double.NEGATIVE_INFINITY;
    StringJoiner listed = new StringJoiner(",");
    for (var e : sizes.entrySet()) {
      int count = selection.pruned().get(e.getKey()).cardinality();
      double layerSparsity = count / (double) e.getValue();
      total += e.getValue();
      pruned += count;
      layersPruned += count > 0 ? 1 : 0;
      if (layerSparsity < min) {
        min = layerSparsity;
        minLayer = e.getKey();
      }
      if (layerSparsity > max) {
        max = layerSparsity;
        maxLayer = e.getKey();
      }
      listed.add(e.getKey() + "=" + fraction(layerSparsity));
    }
    Map<String, String> d = new LinkedHashMap<>();
    d.put("prunable_layers", Integer.toString(sizes.size()));
    d.put("prunable_parameters", Long.toString(total));
    d.put("pruned_parameters", Long.toString(pruned));
    d.put("sparsity_achieved", fraction(pruned / (double) total));
    d.put("layers_pruned", Integer.toString(layersPruned));
    if (scope == PruneScope.GLOBAL && pruned > 0) {
      d.put("threshold", Float.toString(selection.thresholdMagnitude()));
    }
    d.put("layer_sparsity_min", fraction(min) + " (" + minLayer + ")");
    d.put("layer_sparsity_max", fraction(max) + " (" + maxLayer + ")");
    if (sizes.size() <= LISTED_LAYERS) {
      d.put("layer_sparsity", listed.toString());
    }
    if (schedule == SparsitySchedule.GRADUAL) {
      d.put("final_sparsity", fraction(sparsity));
    }
    return d;
  }

  private static String fraction(double v) {
    return String.format(Locale.ROOT, "%.4f", v);
  }
}
