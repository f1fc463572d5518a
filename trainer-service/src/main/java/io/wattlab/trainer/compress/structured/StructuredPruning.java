package io.wattlab.trainer.compress.structured;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.compress.Compressed;
import io.wattlab.trainer.compress.CompressionPass;
import io.wattlab.trainer.compress.PassParameters;
import io.wattlab.trainer.compress.structured.ChannelGroup.Member;
import io.wattlab.trainer.compress.structured.ChannelSurgery.Cut;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.Node;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * Technique {@code prune_structured}: in every channel group that may be pruned, removes the
 * fraction {@code sparsity} of channels whose filters have the smallest L1 or L2 norm (summed
 * over the group's producing layers), and shrinks the graph so that the smaller model really does
 * less work. Groups that reach a graph output or an op the analysis does not follow are left
 * alone; every group keeps at least one channel.
 */
public final class StructuredPruning implements CompressionPass {

  public static final String TECHNIQUE = "prune_structured";
  private static final int REASONS_LISTED = 6;

  private final PassParameters parameters;
  private final double sparsity;
  private final boolean l2;

  public StructuredPruning(PassParameters parameters) {
    this.parameters = parameters;
    this.sparsity = parameters.number("sparsity", 0.5, 0, 1);
    if (sparsity >= 1) {
      throw PassParameters.invalid("sparsity", "1 would remove every channel; give a fraction in [0, 1)");
    }
    this.l2 = parameters.choice("norm", "l1", "l2").equals("l2");
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
    Graph graph = Graph.fromModel(model);
    List<ChannelGroup> groups = ChannelAnalysis.run(graph);
    List<Cut> cuts = choose(graph, groups);
    Map<String, String> details = details(groups, cuts);
    if (cuts.isEmpty()) {
      return Compressed.of(model, details);
    }
    ChannelSurgery.apply(graph, cuts);
    graph.removeUnused();
    // The model's own header (IR version, opset imports of other domains, metadata) stays.
    return Compressed.of(model.toBuilder().setGraph(graph.toGraphProto()).build(), details);
  }

  /** The channels this pass removes from a graph's groups (the groups of {@code ChannelAnalysis.run}). */
  List<Cut> choose(Graph graph, List<ChannelGroup> groups) {
    Map<String, Node> producers = graph.producers();
    List<Cut> cuts = new ArrayList<>();
    for (ChannelGroup g : groups) {
      int remove = Math.min(g.channels() - 1, (int) Math.floor(sparsity * g.channels() + 1e-9));
      if (!g.prunable() || remove <= 0) {
        continue;
      }
      double[] score = new double[g.channels()];
      for (Member m : g.producers()) {
        TensorProto w = ChannelAnalysis.constantOf(graph, producers, m.node().input(m.input()));
        double[] norms = TensorCuts.norms(w, m.axis(), m.offset(), m.block(), g.channels(), l2);
        for (int c = 0; c < score.length; c++) {
          score[c] += norms[c];
        }
      }
      int[] weakest = IntStream.range(0, score.length).boxed()
          .sorted(Comparator.<Integer>comparingDouble(c -> score[c]).thenComparing(c -> c))
          .limit(remove).mapToInt(Integer::intValue).sorted().toArray();
      cuts.add(new Cut(g, weakest));
    }
    return cuts;
  }

  private Map<String, String> details(List<ChannelGroup> groups, List<Cut> cuts) {
    Map<String, String> d = new LinkedHashMap<>();
    long before = groups.stream().mapToLong(ChannelGroup::channels).sum();
    long removed = cuts.stream().mapToLong(c -> c.channels().length).sum();
    List<ChannelGroup> alone = groups.stream().filter(g -> !g.prunable()).toList();
    d.put("groups_found", Integer.toString(groups.size()));
    d.put("groups_pruned", Integer.toString(cuts.size()));
    d.put("groups_left_alone", Integer.toString(alone.size()));
    d.put("channels_before", Long.toString(before));
    d.put("channels_after", Long.toString(before - removed));
    if (!alone.isEmpty()) {
      d.put("left_alone", reasons(alone));
    }
    if (cuts.isEmpty()) {
      d.put("note", groups.isEmpty() ? "nothing prunable: the model has no Conv, Gemm or MatMul output channels"
          : alone.size() == groups.size() ? "nothing prunable: every channel group is left alone"
          : "sparsity " + parameters.asMap().get("sparsity") + " removes no channel of any group");
    }
    return d;
  }

  /** "reason (n groups); ..." with the most frequent reasons first. */
  private static String reasons(List<ChannelGroup> alone) {
    Map<String, Integer> counts = new LinkedHashMap<>();
    alone.forEach(g -> counts.merge(g.leftAlone(), 1, Integer::sum));
    List<Map.Entry<String, Integer>> sorted = new ArrayList<>(counts.entrySet());
    sorted.sort(Map.Entry.<String, Integer>comparingByValue().reversed());
    StringBuilder s = new StringBuilder();
    for (Map.Entry<String, Integer> e : sorted.subList(0, Math.min(REASONS_LISTED, sorted.size()))) {
      s.append(s.isEmpty() ? "" : "; ").append(e.getKey()).append(" (").append(e.getValue())
          .append(e.getValue() == 1 ? " group)" : " groups)");
    }
    if (sorted.size() > REASONS_LISTED) {
      s.append("; and ").append(sorted.size() - REASONS_LISTED).append(" other reasons");
    }
    return s.toString();
  }
}
