package io.wattlab.trainer.train;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.train.TrainGraph.StateSlot;
import java.nio.DoubleBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs a train step in float64: the float32 graph built by {@link TrainStepBuilder} without any
 * Conv, with every float32 type, initializer and constant widened to float64. Used as the
 * engine's side of the float64 parity tests, where PyTorch also computes in float64, so that the
 * two trajectories are compared without float32 rounding, which chaotic runs amplify.
 */
final class Float64Steps implements AutoCloseable {
  private final TrainGraph graph;
  private final OrtSession session;
  private final Map<String, double[]> state = new LinkedHashMap<>();

  Float64Steps(ForwardModel forward, TrainConfig config) {
    this.graph = TrainStepBuilder.build(forward, config, true, true);
    this.session = Sessions.open(widen(graph.model()), ExecutionConfig.cpu(2));
    for (StateSlot s : graph.state()) {
      double[] v = new double[s.initial().length];
      for (int i = 0; i < v.length; i++) {
        v[i] = s.initial()[i];
      }
      state.put(s.name(), v);
    }
  }

  /** One optimizer step; the images are widened exactly, as PyTorch's {@code x.double()} does. */
  double step(float[] images, long[] labels, double lr) {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    List<OnnxTensor> opened = new ArrayList<>();
    try {
      Map<String, OnnxTensor> inputs = new HashMap<>();
      double[] x = new double[images.length];
      for (int i = 0; i < x.length; i++) {
        x[i] = images[i];
      }
      inputs.put(graph.imageInput(), open(opened,
          OnnxTensor.createTensor(env, DoubleBuffer.wrap(x), graph.imageDims())));
      inputs.put(graph.labelsInput(), open(opened,
          OnnxTensor.createTensor(env, LongBuffer.wrap(labels), new long[] {labels.length})));
      inputs.put(graph.learningRateInput(), open(opened,
          OnnxTensor.createTensor(env, DoubleBuffer.wrap(new double[] {lr}), new long[0])));
      for (StateSlot s : graph.state()) {
        inputs.put(s.input(), open(opened,
            OnnxTensor.createTensor(env, DoubleBuffer.wrap(state.get(s.name())), s.dims())));
      }
      try (OrtSession.Result r = session.run(inputs)) {
        for (StateSlot s : graph.state()) {
          state.put(s.name(), doubles(r.get(s.output()).orElseThrow()));
        }
        return doubles(r.get(graph.lossOutput()).orElseThrow())[0];
      }
    } catch (OrtException e) {
      throw new TrainingException("float64 train step failed: " + e.getMessage());
    } finally {
      opened.forEach(OnnxTensor::close);
    }
  }

  double[] value(String name) {
    return state.get(name);
  }

  Map<String, double[]> state() {
    return state;
  }

  private static OnnxTensor open(List<OnnxTensor> opened, OnnxTensor t) {
    opened.add(t);
    return t;
  }

  private static double[] doubles(OnnxValue v) {
    DoubleBuffer b = ((OnnxTensor) v).getDoubleBuffer();
    double[] out = new double[b.remaining()];
    b.get(out);
    return out;
  }

  @Override
  public void close() {
    try {
      session.close();
    } catch (OrtException e) {
      throw new TrainingException(e.getMessage());
    }
  }

  /** The model with float32 replaced by float64 everywhere: types, initializers, constants, Casts. */
  static ModelProto widen(ModelProto model) {
    return model.toBuilder().setGraph(widen(model.getGraph())).build();
  }

  private static GraphProto widen(GraphProto g) {
    GraphProto.Builder b = g.toBuilder().clearInput().clearOutput().clearValueInfo().clearInitializer().clearNode();
    g.getInputList().forEach(v -> b.addInput(widen(v)));
    g.getOutputList().forEach(v -> b.addOutput(widen(v)));
    g.getValueInfoList().forEach(v -> b.addValueInfo(widen(v)));
    g.getInitializerList().forEach(t -> b.addInitializer(widen(t)));
    for (NodeProto n : g.getNodeList()) {
      NodeProto.Builder nb = n.toBuilder().clearAttribute();
      for (AttributeProto a : n.getAttributeList()) {
        AttributeProto.Builder ab = a.toBuilder();
        if (a.hasT()) {
          ab.setT(widen(a.getT()));
        }
        if (a.hasG()) {
          ab.setG(widen(a.getG()));
        }
        if (n.getOpType().equals("Cast") && a.getName().equals("to") && a.getI() == Tensors.FLOAT) {
          ab.setI(Tensors.DOUBLE);
        }
        nb.addAttribute(ab);
      }
      if (n.getOpType().equals("OneHot")) {
        // ONNX Runtime's CPU OneHot has no float64 values: it runs in float32 between two Casts
        // (its values, 0/1 or the label-smoothing pair, are exact enough in float32 for this).
        String values = n.getOutput(0) + "/values32";
        String out = n.getOutput(0) + "/out32";
        b.addNode(cast(n.getInput(2), values, Tensors.FLOAT));
        nb.setInput(2, values).setOutput(0, out);
        b.addNode(nb);
        b.addNode(cast(out, n.getOutput(0), Tensors.DOUBLE));
        continue;
      }
      b.addNode(nb);
    }
    return b.build();
  }

  private static NodeProto cast(String in, String out, int to) {
    return NodeProto.newBuilder().setOpType("Cast").setName(out).addInput(in).addOutput(out)
        .addAttribute(AttributeProto.newBuilder().setName("to").setType(AttributeProto.AttributeType.INT).setI(to))
        .build();
  }

  private static ValueInfoProto widen(ValueInfoProto v) {
    TypeProto t = v.getType();
    if (!t.hasTensorType() || t.getTensorType().getElemType() != Tensors.FLOAT) {
      return v;
    }
    return v.toBuilder().setType(t.toBuilder().setTensorType(t.getTensorType().toBuilder().setElemType(Tensors.DOUBLE)))
        .build();
  }

  private static TensorProto widen(TensorProto t) {
    if (t.getDataType() != Tensors.FLOAT) {
      return t;
    }
    return Tensors.doubles(t.getName(), Tensors.dims(t), Tensors.toDoubles(t));
  }
}
