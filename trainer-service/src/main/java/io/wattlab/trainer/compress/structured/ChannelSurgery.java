package io.wattlab.trainer.compress.structured;

import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.compress.structured.ChannelGroup.Member;
import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.onnx.Tensors;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Removes chosen channels from a graph: each member of a group loses the indices of those channels
 * along its axis, every tensor once with all its cuts (a Conv weight loses output filters and input
 * columns together), and a depthwise Conv's group count follows its filter count.
 */
final class ChannelSurgery {

  private ChannelSurgery() {}

  /** The channels to remove from one group, ascending. */
  record Cut(ChannelGroup group, int[] channels) {}

  static void apply(Graph graph, List<Cut> cuts) {
    // node -> input -> axis -> indices to remove
    Map<Node, Map<Integer, Map<Integer, Set<Long>>>> plan = new LinkedHashMap<>();
    for (Cut cut : cuts) {
      for (Member m : cut.group().members()) {
        Set<Long> indices = plan.computeIfAbsent(m.node(), k -> new LinkedHashMap<>())
            .computeIfAbsent(m.input(), k -> new HashMap<>()).computeIfAbsent(m.axis(), k -> new TreeSet<>());
        for (int c : cut.channels()) {
          for (long k = 0; k < m.block(); k++) {
            indices.add(m.first(c) + k);
          }
        }
      }
    }
    Map<String, Node> producers = graph.producers();
    Map<String, Integer> uses = new HashMap<>();
    for (Node n : graph.nodes()) {
      n.inputs().forEach(i -> uses.merge(i, 1, Integer::sum));
    }
    graph.outputs().keySet().forEach(o -> uses.merge(o, 1, Integer::sum));
    plan.forEach((node, inputs) -> inputs.forEach((input, axes) -> {
      String value = node.input(input);
      TensorProto cutTensor = TensorCuts.drop(ChannelAnalysis.constantOf(graph, producers, value), axes, value);
      install(graph, producers, uses, node, input, cutTensor);
      if (node.opType().equals("Conv") && input == 1 && node.attrInt("group", 1) > 1) {
        node.attributes().put("group", Attrs.i("group", Tensors.dims(cutTensor)[0]));
      }
    }));
  }

  /**
   * Puts a cut tensor in place of a node input. A value only this input reads keeps its name (a
   * weight stays recognisable in training); one shared with other readers (torch.onnx.export
   * stores equal tensors once, e.g. all fresh BatchNorm scales) gets a copy of its own.
   */
  private static void install(Graph graph, Map<String, Node> producers, Map<String, Integer> uses, Node node,
      int input, TensorProto cut) {
    String value = node.input(input);
    Node producer = producers.get(value);
    if (uses.get(value) == 1 && graph.initializers().containsKey(value)) {
      graph.initializers().put(value, cut);
    } else if (uses.get(value) == 1 && producer != null
        && (producer.opType().equals("Identity") || producer.opType().equals("Constant"))) {
      graph.nodes().remove(producer);
      graph.addInitializer(cut);
    } else {
      String name = graph.fresh(value);
      graph.addInitializer(cut.toBuilder().setName(name).build());
      node.inputs().set(input, name);
    }
  }
}
