package io.wattlab.trainer.train;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.ShapeInference;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.graph.autodiff.GradientRegistry;
import io.wattlab.trainer.onnx.OnnxModels;
import io.wattlab.trainer.onnx.Tensors;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * An inference model prepared for training: checked against the supported ops, brought to
 * opset 17 or later, its batch size fixed, and its parameters and BatchNorm statistics named.
 */
public final class ForwardModel {

  /** Ops carried through without a gradient: constants and shape arithmetic on int64 tensors. */
  static final Set<String> SHAPE_OPS = Set.of("Constant", "Shape", "Gather", "Slice", "Cast", "Unsqueeze",
      "Concat", "Squeeze", "ConstantOfShape", "Size", "BatchNormalization");

  /** The lowest default-domain opset of graphs the engine emits (ScatterElements add-reduction is 16). */
  static final int MIN_TRAINING_OPSET = 17;

  private final Graph graph;
  private final String input;
  private final String logits;
  private final List<String> parameters;
  private final List<String> batchNormStats;
  private final int sourceOpset;

  private ForwardModel(Graph graph, String input, String logits, List<String> parameters,
      List<String> batchNormStats, int sourceOpset) {
    this.graph = graph;
    this.input = input;
    this.logits = logits;
    this.parameters = parameters;
    this.batchNormStats = batchNormStats;
    this.sourceOpset = sourceOpset;
  }

  /** Prepares a model whose single image input gets batch size {@code batchSize}. */
  public static ForwardModel prepare(ModelProto model, int batchSize) {
    int opset = OnnxModels.defaultOpset(model);
    if (opset < OnnxModels.MIN_OPSET || opset > OnnxModels.MAX_OPSET) {
      throw new TrainingException("model opset " + opset + " is outside the supported range "
          + OnnxModels.MIN_OPSET + ".." + OnnxModels.MAX_OPSET);
    }
    Graph g = Graph.fromModel(model);
    checkSupported(g, opset);
    if (g.inputs().size() != 1 || g.outputs().isEmpty()) {
      throw new TrainingException("the model must have exactly one input (the images) and one output "
          + "(the logits); it has inputs " + g.inputs().keySet() + " and outputs " + g.outputs().keySet());
    }
    materializeSharedInitializers(g);
    List<Node> legacySoftmax = upgradeOpset(g);
    String input = g.inputs().keySet().iterator().next();
    TensorType t = g.inputs().get(input);
    long[] dims = t.dims().clone();
    dims[0] = batchSize;
    for (int i = 1; i < dims.length; i++) {
      if (dims[i] < 0) {
        throw new TrainingException("input " + input + " has an unknown dimension " + i + "; export the model "
            + "with a fixed image size");
      }
    }
    g.inputs().put(input, t.withDims(dims));
    flattenLegacySoftmax(g, legacySoftmax);
    String logits = g.outputs().keySet().iterator().next();
    g.outputs().keySet().retainAll(Set.of(logits));

    Set<String> stats = new LinkedHashSet<>();
    for (Node n : g.nodes()) {
      if (n.opType().equals("BatchNormalization")) {
        stats.add(n.input(3));
        stats.add(n.input(4));
      }
    }
    List<String> params = new ArrayList<>();
    Set<String> consumed = new LinkedHashSet<>();
    for (Node n : g.nodes()) {
      consumed.addAll(n.inputs());
    }
    for (TensorProto init : g.initializers().values()) {
      if (init.getDataType() == Tensors.FLOAT && consumed.contains(init.getName()) && !stats.contains(init.getName())
          && isParameterUse(g, init.getName())) {
        params.add(init.getName());
      }
    }
    return new ForwardModel(g, input, logits, params, new ArrayList<>(stats), opset);
  }

  /** A float initializer is a parameter when it feeds a differentiable op's data or weight slot. */
  private static boolean isParameterUse(Graph g, String name) {
    for (Node n : g.nodes()) {
      int idx = n.inputs().indexOf(name);
      if (idx < 0) {
        continue;
      }
      switch (n.opType()) {
        case "Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div" -> {
          return true;
        }
        case "BatchNormalization" -> {
          if (idx == 1 || idx == 2) {
            return true;
          }
        }
        default -> { }
      }
    }
    return false;
  }

  static void checkSupported(Graph g, int opset) {
    GradientRegistry rules = GradientRegistry.standard();
    for (Node n : g.nodes()) {
      boolean ok = n.domain().isEmpty() || n.domain().equals("ai.onnx");
      ok &= rules.rule(n.opType()).isPresent() || SHAPE_OPS.contains(n.opType());
      if (!ok) {
        Set<String> supported = new TreeSet<>(rules.rules().keySet());
        supported.addAll(SHAPE_OPS);
        throw new TrainingException(n.describe() + ": op " + (n.domain().isEmpty() ? "" : n.domain() + ".")
            + n.opType() + " (opset " + opset + ") is not supported for training (supported: "
            + String.join(", ", supported) + ")");
      }
    }
  }

  /**
   * torch.onnx.export stores equal-valued parameters once and gives the others their names via
   * Identity nodes (resnet18: every fresh BatchNorm weight is the same tensor of ones). Each
   * such name becomes its own initializer again so that it trains as its own parameter.
   */
  static void materializeSharedInitializers(Graph g) {
    List<Node> kept = new ArrayList<>();
    for (Node n : g.nodes()) {
      TensorProto src = n.opType().equals("Identity") ? g.initializers().get(n.input(0)) : null;
      if (src != null) {
        g.addInitializer(src.toBuilder().setName(n.output(0)).build());
      } else {
        kept.add(n);
      }
    }
    g.nodes().clear();
    g.nodes().addAll(kept);
  }

  /**
   * Rewrites opset 11/12 forms (axes attributes, Dropout's ratio) to their opset 13 inputs, then
   * bumps to 17. Returns the Softmax and LogSoftmax nodes, whose axis meant something else before
   * 13 (see {@link #flattenLegacySoftmax}), to be rewritten once the shapes are known.
   */
  static List<Node> upgradeOpset(Graph g) {
    List<Node> legacySoftmax = new ArrayList<>();
    if (g.opset() >= MIN_TRAINING_OPSET) {
      return legacySoftmax;
    }
    GraphBuilder b = new GraphBuilder(g, "upgrade/");
    if (g.opset() < 13) {
      for (Node n : new ArrayList<>(g.nodes())) {
        String attr = switch (n.opType()) {
          case "Squeeze", "Unsqueeze", "ReduceSum" -> "axes";
          case "Split" -> "split";
          default -> null;
        };
        if (attr != null && n.hasAttr(attr)) {
          long[] v = n.attrInts(attr);
          n.attributes().remove(attr);
          while (n.inputs().size() < 1) {
            n.inputs().add("");
          }
          n.inputs().add(1, b.ints(v));
        }
        if (n.opType().equals("Softmax") || n.opType().equals("LogSoftmax")) {
          n.attributes().put("axis", Attrs.i("axis", n.attrInt("axis", 1)));
          legacySoftmax.add(n);
        }
        if (n.opType().equals("Dropout") && n.hasAttr("ratio")) {
          String ratio = b.scalar(n.attrFloat("ratio", 0.5f), Tensors.FLOAT);
          n.attributes().remove("ratio");
          n.inputs().add(ratio);
        }
      }
    }
    g.setOpset(MIN_TRAINING_OPSET);
    g.sortTopologically();
    return legacySoftmax;
  }

  /**
   * Before opset 13, Softmax and LogSoftmax flattened their input to 2-D at {@code axis} and
   * normalised over everything from it on; from 13 they normalise over that one axis. The two
   * agree when the axis is the last one, which is left as it is; otherwise the node becomes
   * Reshape to [rows, columns], the op over axis 1, and Reshape back.
   */
  static void flattenLegacySoftmax(Graph g, List<Node> nodes) {
    if (nodes.isEmpty()) {
      return;
    }
    ShapeInference shapes = ShapeInference.run(g);
    GraphBuilder b = new GraphBuilder(g, "upgrade/");
    for (Node n : nodes) {
      long[] x = shapes.dims(n.input(0));
      long axis = n.attrInt("axis", 1);
      axis = axis < 0 ? axis + x.length : axis;
      if (axis == x.length - 1) {
        n.attributes().put("axis", Attrs.i("axis", axis));
        continue;
      }
      long rows = 1;
      for (int i = 0; i < axis; i++) {
        rows *= x[i];
      }
      g.nodes().remove(n);
      String flat = b.op(n.opType(), List.of(b.reshape(n.input(0), rows, Tensors.numel(x) / rows)),
          Attrs.i("axis", 1));
      b.opInto(n.output(0), "Reshape", List.of(flat, b.ints(x)));
    }
    g.sortTopologically();
  }

  public Graph graph() {
    return graph;
  }

  public Graph copyOfGraph() {
    Graph copy = Graph.fromModel(graph.toModel());
    copy.inputs().putAll(graph.inputs());
    return copy;
  }

  public String input() {
    return input;
  }

  public String logits() {
    return logits;
  }

  public List<String> parameters() {
    return parameters;
  }

  public List<String> batchNormStats() {
    return batchNormStats;
  }

  public int sourceOpset() {
    return sourceOpset;
  }

  /** Current values of parameters and statistics, from the model's initializers. */
  public Map<String, float[]> initialState() {
    Map<String, float[]> m = new LinkedHashMap<>();
    for (String p : parameters) {
      m.put(p, Tensors.toFloats(graph.initializers().get(p)));
    }
    for (String s : batchNormStats) {
      m.put(s, Tensors.toFloats(graph.initializers().get(s)));
    }
    return m;
  }

  /** Parameterised nodes in graph order, with the parameters each reads. */
  public List<List<String>> parameterisedLayers() {
    List<List<String>> layers = new ArrayList<>();
    Set<String> params = new LinkedHashSet<>(parameters);
    for (Node n : graph.nodes()) {
      List<String> mine = n.inputs().stream().filter(params::contains).toList();
      if (!mine.isEmpty()) {
        layers.add(mine);
      }
    }
    return layers;
  }
}
