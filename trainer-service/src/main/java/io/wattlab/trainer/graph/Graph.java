package io.wattlab.trainer.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.wattlab.trainer.onnx.OnnxModels;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A mutable ONNX graph: nodes in topological order, initializers, typed inputs and outputs.
 * Passes edit it in place; {@link #toModel()} writes it back as a ModelProto.
 */
public final class Graph {
  private final List<Node> nodes = new ArrayList<>();
  private final Map<String, TensorProto> initializers = new LinkedHashMap<>();
  private final Map<String, TensorType> inputs = new LinkedHashMap<>();
  private final Map<String, TensorType> outputs = new LinkedHashMap<>();
  private final Set<String> usedNames = new HashSet<>();
  // What a model read from a file says beyond the default domain's opset, written back unchanged:
  // a node of another domain (com.microsoft, ai.onnx.ml) does not load without its opset import.
  private final Map<String, Long> otherDomainOpsets = new LinkedHashMap<>();
  private final List<StringStringEntryProto> metadata = new ArrayList<>();
  private String name = "graph";
  private int opset;
  private int counter;

  public Graph(int opset) {
    this.opset = opset;
  }

  /** Reads a model's main graph; inputs that are also initializers are treated as initializers. */
  public static Graph fromModel(ModelProto model) {
    Graph g = new Graph(OnnxModels.defaultOpset(model));
    for (OperatorSetIdProto imported : model.getOpsetImportList()) {
      if (!imported.getDomain().isEmpty() && !imported.getDomain().equals("ai.onnx")) {
        g.otherDomainOpsets.put(imported.getDomain(), imported.getVersion());
      }
    }
    g.metadata.addAll(model.getMetadataPropsList());
    GraphProto gp = model.getGraph();
    g.name = gp.getName().isEmpty() ? "graph" : gp.getName();
    for (TensorProto t : gp.getInitializerList()) {
      g.initializers.put(t.getName(), t);
      g.usedNames.add(t.getName());
    }
    for (ValueInfoProto v : gp.getInputList()) {
      if (!g.initializers.containsKey(v.getName())) {
        g.inputs.put(v.getName(), typeOf(v));
      }
      g.usedNames.add(v.getName());
    }
    for (ValueInfoProto v : gp.getOutputList()) {
      g.outputs.put(v.getName(), typeOf(v));
    }
    for (NodeProto n : gp.getNodeList()) {
      Map<String, AttributeProto> attrs = new LinkedHashMap<>();
      for (AttributeProto a : n.getAttributeList()) {
        attrs.put(a.getName(), a);
      }
      g.nodes.add(new Node(n.getName(), n.getOpType(), n.getDomain(), n.getInputList(), n.getOutputList(), attrs));
      g.usedNames.add(n.getName());
      g.usedNames.addAll(n.getOutputList());
    }
    g.sortTopologically();
    return g;
  }

  static TensorType typeOf(ValueInfoProto v) {
    TypeProto.Tensor t = v.getType().getTensorType();
    long[] dims = new long[t.getShape().getDimCount()];
    for (int i = 0; i < dims.length; i++) {
      TensorShapeProto.Dimension d = t.getShape().getDim(i);
      dims[i] = d.hasDimValue() ? d.getDimValue() : -1;
    }
    return new TensorType(t.getElemType(), dims);
  }

  static ValueInfoProto valueInfo(String name, TensorType type) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    for (long d : type.dims()) {
      shape.addDim(d >= 0 ? TensorShapeProto.Dimension.newBuilder().setDimValue(d)
          : TensorShapeProto.Dimension.newBuilder().setDimParam("d" + name.hashCode()));
    }
    return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
        TypeProto.Tensor.newBuilder().setElemType(type.elemType()).setShape(shape))).build();
  }

  public ModelProto toModel() {
    ModelProto.Builder m = ModelProto.newBuilder()
        .setIrVersion(opset >= 21 ? 10 : opset >= 19 ? 9 : 8)
        .setProducerName("wattlab")
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset))
        .addAllMetadataProps(metadata)
        .setGraph(toGraphProto());
    otherDomainOpsets.forEach((domain, version) ->
        m.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(domain).setVersion(version)));
    return m.build();
  }

  public GraphProto toGraphProto() {
    GraphProto.Builder gp = GraphProto.newBuilder().setName(name);
    inputs.forEach((n, t) -> gp.addInput(valueInfo(n, t)));
    outputs.forEach((n, t) -> gp.addOutput(valueInfo(n, t)));
    gp.addAllInitializer(initializers.values());
    for (Node n : nodes) {
      gp.addNode(NodeProto.newBuilder().setName(n.name()).setOpType(n.opType()).setDomain(n.domain())
          .addAllInput(n.inputs()).addAllOutput(n.outputs()).addAllAttribute(n.attributes().values()));
    }
    return gp.build();
  }

  public int opset() {
    return opset;
  }

  public void setOpset(int opset) {
    this.opset = opset;
  }

  public String name() {
    return name;
  }

  public void setName(String name) {
    this.name = name;
  }

  public List<Node> nodes() {
    return nodes;
  }

  public Map<String, TensorProto> initializers() {
    return initializers;
  }

  public Map<String, TensorType> inputs() {
    return inputs;
  }

  public Map<String, TensorType> outputs() {
    return outputs;
  }

  public void addNode(Node node) {
    nodes.add(node);
    usedNames.add(node.name());
    usedNames.addAll(node.outputs());
  }

  public void addInitializer(TensorProto t) {
    initializers.put(t.getName(), t);
    usedNames.add(t.getName());
  }

  public void addInput(String name, TensorType type) {
    inputs.put(name, type);
    usedNames.add(name);
  }

  /** A name not yet used in this graph, starting with the hint. */
  public String fresh(String hint) {
    String candidate = hint;
    while (usedNames.contains(candidate) || candidate.isEmpty()) {
      candidate = hint + "_" + (counter++);
    }
    usedNames.add(candidate);
    return candidate;
  }

  /** The node producing a value, by output name. */
  public Map<String, Node> producers() {
    Map<String, Node> m = new HashMap<>();
    for (Node n : nodes) {
      for (String o : n.outputs()) {
        if (!o.isEmpty()) {
          m.put(o, n);
        }
      }
    }
    return m;
  }

  /** Reorders nodes so that every node comes after the producers of its inputs (Kahn's algorithm). */
  public void sortTopologically() {
    Map<String, Node> producers = producers();
    Map<Node, Integer> pending = new HashMap<>();
    Map<Node, List<Node>> users = new HashMap<>();
    for (Node n : nodes) {
      Set<Node> deps = new HashSet<>();
      for (String in : inputsIncludingSubgraphs(n)) {
        Node p = producers.get(in);
        if (p != null && p != n) {
          deps.add(p);
        }
      }
      pending.put(n, deps.size());
      for (Node d : deps) {
        users.computeIfAbsent(d, k -> new ArrayList<>()).add(n);
      }
    }
    Deque<Node> ready = new ArrayDeque<>();
    for (Node n : nodes) {
      if (pending.get(n) == 0) {
        ready.add(n);
      }
    }
    List<Node> order = new ArrayList<>(nodes.size());
    while (!ready.isEmpty()) {
      Node n = ready.poll();
      order.add(n);
      for (Node u : users.getOrDefault(n, List.of())) {
        if (pending.merge(u, -1, Integer::sum) == 0) {
          ready.add(u);
        }
      }
    }
    if (order.size() != nodes.size()) {
      throw new GraphException("graph " + name + " has a cycle or a node whose input is never produced");
    }
    nodes.clear();
    nodes.addAll(order);
  }

  /** Inputs of a node plus outer-scope names read by its subgraphs (Loop, If bodies). */
  static List<String> inputsIncludingSubgraphs(Node n) {
    List<String> all = new ArrayList<>(n.inputs());
    for (AttributeProto a : n.attributes().values()) {
      if (a.hasG()) {
        Set<String> local = new HashSet<>();
        a.getG().getInputList().forEach(v -> local.add(v.getName()));
        a.getG().getInitializerList().forEach(t -> local.add(t.getName()));
        for (NodeProto np : a.getG().getNodeList()) {
          for (String in : np.getInputList()) {
            if (!local.contains(in)) {
              all.add(in);
            }
          }
          local.addAll(np.getOutputList());
        }
      }
    }
    return all;
  }

  /** Removes nodes and initializers that no graph output depends on. */
  public void removeUnused() {
    Set<String> live = new HashSet<>(outputs.keySet());
    List<Node> kept = new ArrayList<>();
    for (int i = nodes.size() - 1; i >= 0; i--) {
      Node n = nodes.get(i);
      if (n.outputs().stream().anyMatch(live::contains)) {
        kept.add(0, n);
        live.addAll(inputsIncludingSubgraphs(n));
      }
    }
    nodes.clear();
    nodes.addAll(kept);
    initializers.keySet().removeIf(k -> !live.contains(k));
  }

}
