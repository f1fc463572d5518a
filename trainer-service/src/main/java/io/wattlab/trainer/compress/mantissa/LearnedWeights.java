package io.wattlab.trainer.compress.mantissa;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.model.ModelFacts;
import io.wattlab.trainer.onnx.Tensors;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The float32 tensors of a graph that are learned weights, grouped by the node (the layer) that
 * reads them: Conv, ConvTranspose, Gemm and MatMul weights and biases; BatchNormalization scale and
 * bias; non-scalar operands of Add, Sub, Mul and Div (a bias added after MatMul). This is the set
 * {@link ModelFacts} counts as parameters, by its rule {@link ModelFacts#isWeightInput}. BatchNorm
 * running mean and variance are not weights: training updates them by a moving average that no
 * constraint sees, and scalar constants of elementwise ops are part of the graph's arithmetic, not
 * of what it learned.
 *
 * <p>torch.onnx.export stores equal tensors once and names the copies through Identity nodes; such
 * a copy counts as its source tensor, and {@link #aliases()} gives the names the training engine,
 * which gives each copy its own parameter, knows it by.
 *
 * @param layers nodes reading at least one weight, in graph order
 * @param aliases for each weight tensor, its own name and the names of its Identity copies
 */
public record LearnedWeights(List<Layer> layers, Map<String, Set<String>> aliases) {

  /**
   * One node's weights.
   *
   * @param node the node's name, or {@code OpType#index} when it has none
   * @param opType its op
   * @param tensors the initializers it reads as weights (after Identity copies are resolved)
   */
  public record Layer(String node, String opType, List<String> tensors) {}

  public LearnedWeights {
    layers = List.copyOf(layers);
    aliases = Collections.unmodifiableMap(new LinkedHashMap<>(aliases));
  }

  /** Finds the learned float32 weights of a graph's nodes (subgraphs of If or Loop are not searched). */
  public static LearnedWeights of(GraphProto graph) {
    Map<String, TensorProto> initializers = new HashMap<>();
    graph.getInitializerList().forEach(t -> initializers.put(t.getName(), t));
    Map<String, String> copyOf = new HashMap<>();
    for (NodeProto n : graph.getNodeList()) {
      if (n.getOpType().equals("Identity") && n.getInputCount() == 1 && initializers.containsKey(n.getInput(0))) {
        copyOf.put(n.getOutput(0), n.getInput(0));
      }
    }
    List<Layer> layers = new ArrayList<>();
    Map<String, Set<String>> aliases = new LinkedHashMap<>();
    int index = 0;
    for (NodeProto n : graph.getNodeList()) {
      Set<String> mine = new LinkedHashSet<>();
      for (int i = 0; i < n.getInputCount(); i++) {
        String name = copyOf.getOrDefault(n.getInput(i), n.getInput(i));
        TensorProto t = initializers.get(name);
        if (t != null && t.getDataType() == Tensors.FLOAT
            && ModelFacts.isWeightInput(n.getOpType(), i, Tensors.dims(t))) {
          mine.add(name);
          aliases.computeIfAbsent(name, k -> new LinkedHashSet<>(List.of(k))).add(n.getInput(i));
        }
      }
      if (!mine.isEmpty()) {
        String node = n.getName().isEmpty() ? n.getOpType() + "#" + index : n.getName();
        layers.add(new Layer(node, n.getOpType(), List.copyOf(mine)));
      }
      index++;
    }
    aliases.replaceAll((k, v) -> Set.copyOf(v));
    return new LearnedWeights(layers, aliases);
  }

  /** The weight tensors' initializer names, each once, in the order layers first read them. */
  public Set<String> tensors() {
    Set<String> names = new LinkedHashSet<>();
    layers.forEach(l -> names.addAll(l.tensors()));
    return names;
  }

  /** Every name a weight goes by: initializer names and their Identity copies. */
  public Set<String> allNames() {
    Set<String> names = new LinkedHashSet<>();
    aliases.values().forEach(names::addAll);
    return names;
  }
}
