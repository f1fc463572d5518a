package io.wattlab.trainer.graph.autodiff;

import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.GraphException;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.ShapeInference;
import io.wattlab.trainer.onnx.Tensors;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reverse-mode differentiation of a graph: walks the nodes between the trainable values and a
 * scalar loss in reverse order and asks each op's rule for its input gradients. Knows no op.
 */
public final class Autodiff {
  private final GradientRegistry registry;

  public Autodiff(GradientRegistry registry) {
    this.registry = registry;
  }

  /**
   * Appends gradient nodes of {@code loss} with respect to each of {@code wrt} to the graph and
   * returns, per wrt value, the name of its gradient.
   */
  public Map<String, String> differentiate(Graph graph, String loss, Collection<String> wrt) {
    ShapeInference shapes = ShapeInference.run(graph);
    GraphBuilder b = new GraphBuilder(graph, "grad/");
    List<Node> forward = new ArrayList<>(graph.nodes());

    Set<String> requiresGrad = new HashSet<>(wrt);
    for (Node n : forward) {
      if (n.inputs().stream().anyMatch(requiresGrad::contains)) {
        for (String o : n.outputs()) {
          if (!o.isEmpty() && Tensors.isFloating(shapes.type(o).elemType())) {
            requiresGrad.add(o);
          }
        }
      }
    }
    if (!requiresGrad.contains(loss)) {
      throw new GraphException("loss " + loss + " does not depend on any trainable value");
    }

    Map<String, List<String>> contributions = new HashMap<>();
    contributions.computeIfAbsent(loss, k -> new ArrayList<>())
        .add(b.constant(shapes.type(loss).elemType(), shapes.dims(loss), 1.0));
    for (int idx = forward.size() - 1; idx >= 0; idx--) {
      Node n = forward.get(idx);
      boolean hasGo = n.outputs().stream().anyMatch(contributions::containsKey);
      boolean[] needed = new boolean[n.inputs().size()];
      boolean any = false;
      for (int i = 0; i < needed.length; i++) {
        needed[i] = requiresGrad.contains(n.input(i));
        any |= needed[i];
      }
      if (!hasGo || !any) {
        continue;
      }
      GradientRule rule = registry.rule(n.opType()).orElseThrow(() -> new GraphException(
          n.describe() + ": op " + n.opType() + " (opset " + graph.opset() + ") has no gradient rule"));
      String[] go = new String[n.outputs().size()];
      for (int i = 0; i < go.length; i++) {
        List<String> c = contributions.get(n.output(i));
        go[i] = c == null ? null : b.sum(c);
      }
      GradientContext ctx = new GradientContext(n, b, shapes, go, needed);
      rule.build(ctx);
      String[] gi = ctx.results();
      for (int i = 0; i < needed.length; i++) {
        if (!needed[i]) {
          continue;
        }
        if (gi[i] == null) {
          throw new GraphException(n.describe() + ": gradient rule produced no gradient for input " + i);
        }
        contributions.computeIfAbsent(n.input(i), k -> new ArrayList<>()).add(gi[i]);
      }
    }

    Map<String, String> result = new LinkedHashMap<>();
    for (String w : wrt) {
      List<String> c = contributions.get(w);
      result.put(w, c == null ? b.expand(b.scalar(0, shapes.type(w).elemType()), shapes.dims(w)) : b.sum(c));
    }
    graph.sortTopologically();
    return result;
  }
}
