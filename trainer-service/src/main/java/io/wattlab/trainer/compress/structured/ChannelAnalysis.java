package io.wattlab.trainer.compress.structured;

import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.compress.CompressionException;
import io.wattlab.trainer.compress.structured.ChannelGroup.Member;
import io.wattlab.trainer.compress.structured.ChannelGroup.Role;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphException;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.ShapeInference;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.Tensors;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Channel dependency analysis: which channels of a graph must be pruned together. Walking the
 * graph in order, every value of rank ≥ 2 gets a channel map: its axis-1 channels as segments,
 * each a run of one channel space (a set of channels born together, at a Conv or Gemm output)
 * at an offset, {@code block} indices per channel (more than one after Flatten). One rule per op
 * type says how the op carries the maps from its inputs to its outputs and which of its tensors
 * hold the channels. Ops that must see the same channels (residual Add, the squeeze-and-excitation
 * Mul) merge their spaces; a space that reaches a graph output or an op without a rule is left
 * alone, with the reason.
 */
final class ChannelAnalysis {

  /** How one op type carries channels; registered by op type in {@link #RULES}. */
  private interface Rule {
    void apply(ChannelAnalysis analysis, Node node);
  }

  /** Elementwise in their first input: channel c of the output depends on channel c only. */
  private static final Set<String> UNARY = Set.of("Relu", "LeakyRelu", "Elu", "Selu", "Celu", "Sigmoid",
      "HardSigmoid", "HardSwish", "Tanh", "Softplus", "Softsign", "Mish", "Gelu", "Erf", "Clip", "Identity",
      "Dropout", "Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Cast",
      "ThresholdedRelu", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool", "GlobalLpPool");
  private static final Set<String> BROADCAST = Set.of("Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean",
      "Pow");
  private static final Set<String> REDUCE = Set.of("ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum",
      "ReduceL1", "ReduceL2", "ReduceProd", "ReduceSumSquare", "ReduceLogSumExp");

  private static final Map<String, Rule> RULES = rules();

  private static Map<String, Rule> rules() {
    Map<String, Rule> m = new HashMap<>();
    UNARY.forEach(op -> m.put(op, ChannelAnalysis::unary));
    BROADCAST.forEach(op -> m.put(op, ChannelAnalysis::broadcast));
    REDUCE.forEach(op -> m.put(op, ChannelAnalysis::reduce));
    m.put("PRelu", ChannelAnalysis::broadcast);
    m.put("BatchNormalization", (a, n) -> a.normalization(n, 4));
    m.put("InstanceNormalization", (a, n) -> a.normalization(n, 2));
    m.put("Conv", ChannelAnalysis::conv);
    m.put("Gemm", ChannelAnalysis::gemm);
    m.put("MatMul", ChannelAnalysis::matMul);
    m.put("Flatten", ChannelAnalysis::flatten);
    m.put("Reshape", ChannelAnalysis::reshape);
    m.put("Concat", ChannelAnalysis::concat);
    m.put("Pad", ChannelAnalysis::pad);
    return Map.copyOf(m);
  }

  /** Channels born together; merged spaces point to one root that holds the members. */
  private static final class Space {
    final int size;
    Space parent = this;
    final List<Member> members = new ArrayList<>();
    String reason = "";

    Space(int size) {
      this.size = size;
    }

    Space root() {
      Space r = this;
      while (r.parent != r) {
        r = r.parent;
      }
      Space s = this;
      while (s.parent != r) {
        Space next = s.parent;
        s.parent = r;
        s = next;
      }
      return r;
    }
  }

  /** A run of a value's channel axis: channel c of the space is indices [offset + c·block, +block). */
  private record Segment(Space space, long offset, long block) {
    long width() {
      return space.size * block;
    }
  }

  private final Graph graph;
  private final ShapeInference shapes;
  private final Map<String, Node> producers;
  private final Map<String, Integer> uses = new HashMap<>();
  private final Set<String> constants = new HashSet<>();
  private final Map<String, List<Segment>> maps = new HashMap<>();
  private final List<Space> spaces = new ArrayList<>();

  private ChannelAnalysis(Graph graph) {
    this.graph = graph;
    this.shapes = shapesOf(graph);
    this.producers = graph.producers();
    for (Node n : graph.nodes()) {
      n.inputs().forEach(i -> uses.merge(i, 1, Integer::sum));
    }
    graph.outputs().keySet().forEach(o -> uses.merge(o, 1, Integer::sum));
    constants.addAll(graph.initializers().keySet());
  }

  /**
   * The channel groups of a graph: every space that a Conv, Gemm or MatMul produces, merged with
   * the spaces it must be pruned together with.
   *
   * @throws CompressionException when the graph's shapes cannot be inferred (naming the node)
   */
  static List<ChannelGroup> run(Graph graph) {
    ChannelAnalysis a = new ChannelAnalysis(graph);
    graph.inputs().keySet().forEach(in -> a.assignFrozen(in, "graph input " + in));
    for (Node n : graph.nodes()) {
      if (n.inputs().stream().allMatch(i -> i.isEmpty() || a.constants.contains(i))) {
        // Constants, Identity copies of weights and shape arithmetic carry no channels.
        n.outputs().forEach(a.constants::add);
        continue;
      }
      Rule rule = n.domain().isEmpty() || n.domain().equals("ai.onnx")
          ? RULES.getOrDefault(n.opType(), ChannelAnalysis::unknown) : ChannelAnalysis::unknown;
      rule.apply(a, n);
      for (String out : n.outputs()) {
        if (!out.isEmpty() && !a.maps.containsKey(out)) {
          a.assignFrozen(out, "op " + n.opType() + " at node " + n.name() + " has no channel rule for this output");
        }
      }
    }
    graph.outputs().keySet().forEach(o -> a.freeze(a.maps.get(o), "reaches graph output " + o));
    return a.groups();
  }

  private static ShapeInference shapesOf(Graph g) {
    Map<String, TensorType> given = new LinkedHashMap<>(g.inputs());
    g.inputs().replaceAll((name, t) -> {
      long[] d = t.dims().clone();
      if (d.length > 0 && d[0] < 0) {
        d[0] = 1;
      }
      return t.withDims(d);
    });
    try {
      return ShapeInference.run(g);
    } catch (GraphException e) {
      throw new CompressionException("cannot follow channels through model " + g.name() + ": " + e.getMessage(), e);
    } finally {
      g.inputs().clear();
      g.inputs().putAll(given);
    }
  }

  private List<ChannelGroup> groups() {
    Set<Space> roots = new LinkedHashSet<>();
    spaces.forEach(s -> roots.add(s.root()));
    List<ChannelGroup> groups = new ArrayList<>();
    for (Space s : roots) {
      if (s.members.stream().anyMatch(m -> m.role() == Role.PRODUCER)) {
        groups.add(new ChannelGroup(groups.size(), s.size, s.members, s.reason));
      }
    }
    return groups;
  }

  // ---- the rules ----

  /** Channel c out is a function of channel c in: the map passes on unchanged. */
  private static void unary(ChannelAnalysis a, Node n) {
    if (a.extraOutputsUsed(n)) {
      unknown(a, n);
      return;
    }
    List<Segment> x = a.maps.get(n.input(0));
    if (x != null) {
      a.maps.put(n.output(0), x);
    }
  }

  /**
   * Elementwise with broadcasting. Every non-constant input that spans the output's channels must
   * see the same channels (residual Add, x·sigmoid(x), the excitation Mul): their spaces merge.
   * A constant spanning the channels (a per-channel scale) is cut with them.
   */
  private static void broadcast(ChannelAnalysis a, Node n) {
    long[] out = a.dims(n.output(0));
    if (out.length < 2) {
      return;
    }
    long channels = out[1];
    List<List<Segment>> coupled = new ArrayList<>();
    List<int[]> perChannel = new ArrayList<>();
    boolean blocked = false;
    for (int i = 0; i < n.inputs().size(); i++) {
      String in = n.input(i);
      if (in.isEmpty()) {
        continue;
      }
      long[] d = a.dims(in);
      int axis = 1 - (out.length - d.length);
      boolean spans = axis >= 0 && d[axis] == channels && channels > 1;
      if (a.constants.contains(in)) {
        if (spans) {
          if (a.constant(in) == null) {
            unknown(a, n);
            return;
          }
          perChannel.add(new int[] {i, axis});
        }
        continue;
      }
      List<Segment> map = a.maps.get(in);
      if (axis == 1 && map != null && d[1] == channels) {
        coupled.add(map);
      } else {
        // A channel axis landing on another output axis, or channels without a map: not followed.
        if (map != null && !(axis == 1 && d[1] == 1)) {
          a.freeze(map, "op " + n.opType() + " at node " + n.name() + " broadcasts it across another axis");
        }
        blocked |= spans;
      }
    }
    if (blocked) {
      coupled.forEach(m -> a.freeze(m, "op " + n.opType() + " at node " + n.name() + " mixes it with a value "
          + "whose channels are not followed"));
    }
    if (coupled.isEmpty()) {
      return;
    }
    List<Segment> first = coupled.get(0);
    for (List<Segment> other : coupled.subList(1, coupled.size())) {
      if (!sameLayout(first, other)) {
        coupled.forEach(m -> a.freeze(m, "op " + n.opType() + " at node " + n.name()
            + " joins channels laid out differently"));
        break;
      }
      for (int s = 0; s < first.size(); s++) {
        a.union(first.get(s).space(), other.get(s).space());
      }
    }
    for (int[] c : perChannel) {
      a.add(first, Role.CHANNELWISE, n, c[0], c[1]);
    }
    a.maps.put(n.output(0), first);
  }

  private static void reduce(ChannelAnalysis a, Node n) {
    long[] axes;
    try {
      axes = a.shapes.reduceAxes(n);
    } catch (RuntimeException e) {
      unknown(a, n);
      return;
    }
    boolean keep = n.attrInt("keepdims", 1) == 1;
    for (long axis : axes) {
      if (axis == 1 || (axis == 0 && !keep)) {
        unknown(a, n);
        return;
      }
    }
    unary(a, n);
  }

  /** BatchNorm (scale, bias, mean, variance) or InstanceNorm (scale, bias): per-channel vectors. */
  private void normalization(Node n, int parameters) {
    List<Segment> x = maps.get(n.input(0));
    for (int i = 1; i <= parameters; i++) {
      if (x == null || constant(n.input(i)) == null || extraOutputsUsed(n)) {
        unknown(this, n);
        return;
      }
    }
    for (int i = 1; i <= parameters; i++) {
      add(x, Role.CHANNELWISE, n, i, 0);
    }
    maps.put(n.output(0), x);
  }

  /**
   * A Conv reads its input channels through weight axis 1 and produces a new space along axis 0.
   * A depthwise Conv (one filter per channel) keeps the channels: its filters are per-channel.
   */
  private static void conv(ChannelAnalysis a, Node n) {
    List<Segment> x = a.maps.get(n.input(0));
    TensorProto w = a.constant(n.input(1));
    if (x == null || w == null || (!n.input(2).isEmpty() && a.constant(n.input(2)) == null)) {
      unknown(a, n);
      return;
    }
    long[] wd = Tensors.dims(w);
    long in = a.dims(n.input(0))[1];
    long group = n.attrInt("group", 1);
    String where = "Conv at node " + n.name();
    if (w.getDataType() != Tensors.FLOAT && w.getDataType() != Tensors.DOUBLE) {
      a.freeze(x, where + " has weights of element type " + w.getDataType());
      a.produce(n, (int) wd[0], 0, where + " has weights of element type " + w.getDataType());
      return;
    }
    if (group == 1) {
      a.add(x, Role.CONSUMER, n, 1, 1);
      a.produce(n, (int) wd[0], 0, "");
    } else if (group == in && wd[0] == in && wd[1] == 1) {
      a.add(x, Role.CHANNELWISE, n, 1, 0);
      if (!n.input(2).isEmpty()) {
        a.add(x, Role.CHANNELWISE, n, 2, 0);
      }
      a.maps.put(n.output(0), x);
    } else {
      String reason = where + " is grouped (" + group + " groups)";
      a.freeze(x, reason);
      a.produce(n, (int) wd[0], 0, reason);
    }
  }

  /** Gemm: input columns through B's inner axis, output units along its outer axis, bias C along its last. */
  private static void gemm(ChannelAnalysis a, Node n) {
    List<Segment> x = a.maps.get(n.input(0));
    TensorProto b = a.constant(n.input(1));
    TensorProto c = n.input(2).isEmpty() ? null : a.constant(n.input(2));
    if (x == null || b == null || n.attrInt("transA", 0) != 0 || (!n.input(2).isEmpty() && c == null)
        || b.getDataType() != Tensors.FLOAT && b.getDataType() != Tensors.DOUBLE) {
      unknown(a, n);
      return;
    }
    boolean transB = n.attrInt("transB", 0) == 1;
    a.add(x, Role.CONSUMER, n, 1, transB ? 1 : 0);
    long[] bd = Tensors.dims(b);
    long units = transB ? bd[0] : bd[1];
    a.produce(n, (int) units, transB ? 0 : 1, "");
    if (c != null) {
      long[] cd = Tensors.dims(c);
      if (cd.length > 0 && cd[cd.length - 1] == units && units > 1) {
        a.add(a.maps.get(n.output(0)), Role.CHANNELWISE, n, 2, cd.length - 1);
      }
    }
  }

  /** A 2-D MatMul by a constant [in, out] weight is a Gemm without bias. */
  private static void matMul(ChannelAnalysis a, Node n) {
    List<Segment> x = a.maps.get(n.input(0));
    TensorProto b = a.constant(n.input(1));
    if (x == null || b == null || a.dims(n.input(0)).length != 2 || Tensors.dims(b).length != 2
        || b.getDataType() != Tensors.FLOAT && b.getDataType() != Tensors.DOUBLE) {
      unknown(a, n);
      return;
    }
    a.add(x, Role.CONSUMER, n, 1, 0);
    a.produce(n, (int) Tensors.dims(b)[1], 1, "");
  }

  /** Flatten from axis 1: channel c becomes the block of H·W columns that follows its predecessors. */
  private static void flatten(ChannelAnalysis a, Node n) {
    long[] d = a.dims(n.input(0));
    long axis = n.attrInt("axis", 1);
    if ((axis < 0 ? axis + d.length : axis) != 1) {
      unknown(a, n);
      return;
    }
    a.flattenInto(n, d);
  }

  /** A Reshape to [N, -1] is a Flatten; any other reshape is not followed. */
  private static void reshape(ChannelAnalysis a, Node n) {
    long[] d = a.dims(n.input(0));
    long[] target = a.shapes.value(n.input(1));
    long[] out = a.dims(n.output(0));
    if (target == null || target.length != 2 || target[1] != -1 || d.length < 2 || out[0] != d[0]) {
      unknown(a, n);
      return;
    }
    a.flattenInto(n, d);
  }

  private void flattenInto(Node n, long[] d) {
    List<Segment> x = maps.get(n.input(0));
    if (x == null) {
      unknown(this, n);
      return;
    }
    long inner = 1;
    for (int i = 2; i < d.length; i++) {
      inner *= d[i];
    }
    List<Segment> out = new ArrayList<>();
    for (Segment s : x) {
      out.add(new Segment(s.space(), s.offset() * inner, s.block() * inner));
    }
    maps.put(n.output(0), out);
  }

  /** Concat along channels: each input's segments follow at the offset where its channels start. */
  private static void concat(ChannelAnalysis a, Node n) {
    long[] out = a.dims(n.output(0));
    long axis = n.attrInt("axis", 0);
    if ((axis < 0 ? axis + out.length : axis) != 1) {
      unknown(a, n);
      return;
    }
    List<Segment> joined = new ArrayList<>();
    long offset = 0;
    for (String in : n.inputs()) {
      List<Segment> map = a.maps.get(in);
      long width = a.dims(in)[1];
      if (map == null) {
        Space s = a.space(width, "a constant is concatenated at node " + n.name());
        map = List.of(new Segment(s, 0, 1));
      }
      for (Segment s : map) {
        joined.add(new Segment(s.space(), s.offset() + offset, s.block()));
      }
      offset += width;
    }
    a.maps.put(n.output(0), joined);
  }

  /** Pad that pads no channels passes them on. */
  private static void pad(ChannelAnalysis a, Node n) {
    long[] pads;
    if (a.graph.opset() >= 11) {
      TensorProto p = a.constant(n.input(1));
      pads = p == null || !n.input(3).isEmpty() ? null : Tensors.toLongs(p);
    } else {
      pads = n.attrInts("pads");
    }
    int rank = a.dims(n.input(0)).length;
    if (pads == null || pads.length != 2 * rank || pads[1] != 0 || pads[rank + 1] != 0) {
      unknown(a, n);
      return;
    }
    unary(a, n);
  }

  /** An op without a rule: none of its channels may be pruned, nor those it produces. */
  private static void unknown(ChannelAnalysis a, Node n) {
    String reason = "op " + n.opType() + " at node " + n.name() + " is not followed";
    for (String in : n.inputs()) {
      a.freeze(a.maps.get(in), reason);
    }
    for (String out : n.outputs()) {
      if (!out.isEmpty()) {
        a.maps.remove(out);
        a.assignFrozen(out, reason);
      }
    }
  }

  // ---- bookkeeping ----

  private static boolean sameLayout(List<Segment> a, List<Segment> b) {
    if (a.size() != b.size()) {
      return false;
    }
    for (int i = 0; i < a.size(); i++) {
      Segment x = a.get(i);
      Segment y = b.get(i);
      if (x.offset() != y.offset() || x.block() != y.block() || x.space().size != y.space().size) {
        return false;
      }
    }
    return true;
  }

  private boolean extraOutputsUsed(Node n) {
    for (int i = 1; i < n.outputs().size(); i++) {
      if (uses.getOrDefault(n.output(i), 0) > 0) {
        return true;
      }
    }
    return false;
  }

  /** A new space of channels produced by a node's weight along an axis (its bias follows). */
  private void produce(Node n, int channels, int axis, String reason) {
    Space s = space(channels, reason);
    List<Segment> map = List.of(new Segment(s, 0, 1));
    add(map, Role.PRODUCER, n, 1, axis);
    if (n.opType().equals("Conv") && !n.input(2).isEmpty()) {
      add(map, Role.CHANNELWISE, n, 2, 0);
    }
    maps.put(n.output(0), map);
  }

  private Space space(long channels, String reason) {
    Space s = new Space((int) channels);
    s.reason = reason;
    spaces.add(s);
    return s;
  }

  private void assignFrozen(String value, String reason) {
    TensorType t = shapes.types().get(value);
    if (t != null && t.rank() >= 2) {
      maps.put(value, List.of(new Segment(space(t.dim(1), reason), 0, 1)));
    }
  }

  private void add(List<Segment> map, Role role, Node n, int input, int axis) {
    for (Segment s : map) {
      s.space().root().members.add(new Member(role, n, input, axis, s.offset(), s.block()));
    }
  }

  private void union(Space a, Space b) {
    Space ra = a.root();
    Space rb = b.root();
    if (ra == rb) {
      return;
    }
    rb.parent = ra;
    ra.members.addAll(rb.members);
    rb.members.clear();
    if (ra.reason.isEmpty()) {
      ra.reason = rb.reason;
    }
  }

  private void freeze(List<Segment> map, String reason) {
    if (map != null) {
      for (Segment s : map) {
        Space r = s.space().root();
        if (r.reason.isEmpty()) {
          r.reason = reason;
        }
      }
    }
  }

  private long[] dims(String value) {
    return shapes.dims(value);
  }

  /** The value of a constant input, looking through Identity and Constant nodes; null when computed. */
  private TensorProto constant(String value) {
    return constantOf(graph, producers, value);
  }

  static TensorProto constantOf(Graph graph, Map<String, Node> producers, String value) {
    TensorProto t = graph.initializers().get(value);
    Node p = producers.get(value);
    while (t == null && p != null && p.opType().equals("Identity")) {
      t = graph.initializers().get(p.input(0));
      p = producers.get(p.input(0));
    }
    if (t == null && p != null && p.opType().equals("Constant") && p.hasAttr("value")) {
      t = p.attributes().get("value").getT();
    }
    return t;
  }
}
