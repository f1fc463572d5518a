package io.wattlab.trainer.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** One operator application in a {@link Graph}: op type, named inputs and outputs, attributes. */
public final class Node {
  private final String name;
  private final String opType;
  private final String domain;
  private final List<String> inputs;
  private final List<String> outputs;
  private final Map<String, AttributeProto> attributes;

  public Node(String name, String opType, String domain, List<String> inputs, List<String> outputs,
      Map<String, AttributeProto> attributes) {
    this.name = name;
    this.opType = opType;
    this.domain = domain == null ? "" : domain;
    this.inputs = new ArrayList<>(inputs);
    this.outputs = new ArrayList<>(outputs);
    this.attributes = new LinkedHashMap<>(attributes);
  }

  public String name() {
    return name;
  }

  public String opType() {
    return opType;
  }

  public String domain() {
    return domain;
  }

  /** Input names; an empty string marks an omitted optional input, as in ONNX. */
  public List<String> inputs() {
    return inputs;
  }

  public List<String> outputs() {
    return outputs;
  }

  public Map<String, AttributeProto> attributes() {
    return attributes;
  }

  /** The i-th input, or "" when absent. */
  public String input(int i) {
    return i < inputs.size() ? inputs.get(i) : "";
  }

  public String output(int i) {
    return i < outputs.size() ? outputs.get(i) : "";
  }

  public boolean hasAttr(String key) {
    return attributes.containsKey(key);
  }

  public long attrInt(String key, long fallback) {
    AttributeProto a = attributes.get(key);
    return a == null ? fallback : a.getI();
  }

  public float attrFloat(String key, float fallback) {
    AttributeProto a = attributes.get(key);
    return a == null ? fallback : a.getF();
  }

  public String attrString(String key, String fallback) {
    AttributeProto a = attributes.get(key);
    return a == null ? fallback : a.getS().toStringUtf8();
  }

  /** An ints attribute, or null when absent. */
  public long[] attrInts(String key) {
    AttributeProto a = attributes.get(key);
    return a == null ? null : a.getIntsList().stream().mapToLong(Long::longValue).toArray();
  }

  public GraphProto attrGraph(String key) {
    AttributeProto a = attributes.get(key);
    return a == null ? null : a.getG();
  }

  /** Where a node is in a message: its name when it has one, else its first output. */
  public String describe() {
    String id = name.isEmpty() ? "(output " + output(0) + ")" : name;
    return "node " + id + " (" + opType + ")";
  }

  @Override
  public String toString() {
    return opType + " " + name + " " + inputs + " -> " + outputs;
  }
}
