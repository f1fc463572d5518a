package io.wattlab.trainer.compress.quantize;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.compress.ActivationRanges;
import io.wattlab.trainer.compress.quantize.Quantization.ActivationType;
import io.wattlab.trainer.compress.quantize.Quantization.Affine;
import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.onnx.Tensors;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Static int8 quantization in the QDQ format: each Conv, Gemm and MatMul with a constant weight
 * reads its weight through DequantizeLinear of an int8 initializer (symmetric, per output
 * channel), its bias through DequantizeLinear of an int32 one, and its activation input through a
 * QuantizeLinear/DequantizeLinear pair whose scale comes from the calibrated range; its output
 * (after a following Relu, which the range then absorbs) gets a pair too. ONNX Runtime's graph
 * optimizer recognises DQ → op → Q and runs QLinearConv / QLinearMatMul / QGemm in its place.
 */
final class StaticQdq {

  /** A layer to quantize and the axis of its weight that indexes output channels. */
  record Target(Node node, TensorProto weight, int channelAxis) {}

  /**
   * What would be quantized in a (BatchNorm-folded) graph: the layers, the activations that get a
   * Q/DQ pair (in graph order), and the layers left in float with the reason.
   */
  record Plan(List<Target> targets, Set<String> activations, Map<String, String> skipped) {}

  private StaticQdq() {}

  static Plan plan(Graph g) {
    Map<String, Node> producers = g.producers();
    Map<String, List<Node>> consumers = consumers(g);
    List<Target> targets = new ArrayList<>();
    Set<String> activations = new LinkedHashSet<>();
    Map<String, String> skipped = new LinkedHashMap<>();
    for (Node n : g.nodes()) {
      String reason = null;
      int axis = 0;
      TensorProto w = null;
      switch (n.opType()) {
        case "Conv" -> {
          w = BatchNormFolding.constant(g, producers, n.input(1));
          axis = 0;
          if (w == null || w.getDimsCount() < 3) {
            reason = "its weight is not a constant";
          }
        }
        case "Gemm" -> {
          w = BatchNormFolding.constant(g, producers, n.input(1));
          axis = n.attrInt("transB", 0) == 1 ? 0 : 1;
          if (n.attrInt("transA", 0) != 0) {
            reason = "transA=1 is not quantized";
          } else if (w == null || w.getDimsCount() != 2) {
            reason = "its weight is not a constant matrix";
          }
        }
        case "MatMul" -> {
          w = BatchNormFolding.constant(g, producers, n.input(1));
          axis = 1;
          if (w == null || w.getDimsCount() != 2) {
            reason = "its second operand is not a constant matrix";
          }
        }
        default -> {
          continue;
        }
      }
      if (reason == null && w.getDataType() != Tensors.FLOAT) {
        reason = "its weight is not float32";
      }
      if (reason == null && BatchNormFolding.constant(g, producers, n.input(0)) != null) {
        reason = "its input is a constant";
      }
      if (reason != null) {
        skipped.put(n.name().isEmpty() ? n.output(0) : n.name(), n.opType() + ": " + reason);
        continue;
      }
      targets.add(new Target(n, w, axis));
      activations.add(n.input(0));
      String y = n.output(0);
      List<Node> users = consumers.getOrDefault(y, List.of());
      if (g.outputs().containsKey(y)) {
        // The logits stay float: QGemm and MatMulIntegerToFloat write float outputs themselves.
        continue;
      }
      if (users.size() == 1 && clampsAtZero(g, producers, users.get(0))
          && !g.outputs().containsKey(users.get(0).output(0))) {
        // Quantized after the Relu (or ReLU6's Clip), with a range starting at 0, ONNX Runtime
        // drops the activation (the zero point clamps the same) and fuses Conv → Q.
        activations.add(users.get(0).output(0));
      } else {
        activations.add(y);
      }
    }
    return new Plan(targets, activations, skipped);
  }

  /** A Relu, or a Clip whose lower bound is the constant 0 (ReLU6). */
  private static boolean clampsAtZero(Graph g, Map<String, Node> producers, Node n) {
    if (n.opType().equals("Relu")) {
      return true;
    }
    if (!n.opType().equals("Clip") || n.input(1).isEmpty()) {
      return false;
    }
    TensorProto min = BatchNormFolding.constant(g, producers, n.input(1));
    return min != null && Tensors.numel(Tensors.dims(min)) == 1 && Tensors.toDoubles(min)[0] == 0;
  }

  /**
   * Rewrites a folded graph in place by its plan.
   *
   * @return the number of Q/DQ pairs inserted on activations
   */
  static int rewrite(Graph g, Plan plan, ActivationRanges ranges, boolean perChannel, ActivationType type,
      int weightMax) {
    // Keyed by the DQ output that layers now read.
    Map<String, Affine> affines = new HashMap<>();
    for (String t : plan.activations()) {
      Affine a = Quantization.affine(ranges.of(t), type);
      String scale = initializer(g, Quantization.floats(g.fresh(t + "_scale"), new long[0], new float[] {a.scale()}));
      String zero = initializer(g, Quantization.eightBit(g.fresh(t + "_zero_point"), type.onnxType, new long[0],
          a.zeroPoint()));
      String q = g.fresh(t + "_quantized");
      String dq = g.fresh(t + "_dequantized");
      affines.put(dq, a);
      for (Node n : g.nodes()) {
        n.inputs().replaceAll(in -> in.equals(t) ? dq : in);
      }
      g.addNode(node(g, "QuantizeLinear", List.of(t, scale, zero), q));
      g.addNode(node(g, "DequantizeLinear", List.of(q, scale, zero), dq));
    }
    for (Target target : plan.targets()) {
      Node n = target.node();
      long[] dims = Tensors.dims(target.weight());
      int axis = perChannel ? target.channelAxis() : -1;
      Quantization.Weight w = Quantization.symmetric(Tensors.toFloats(target.weight()), dims, axis, weightMax);
      int channels = w.scales().length;
      String base = n.input(1);
      String values = initializer(g, Quantization.int8(g.fresh(base + "_int8"), dims, w.values()));
      String scale = initializer(g, Quantization.floats(g.fresh(base + "_scale"),
          Quantization.paramDims(channels, perChannel), w.scales()));
      String zero = initializer(g, Quantization.eightBit(g.fresh(base + "_zero_point"),
          TensorProto.DataType.INT8_VALUE, Quantization.paramDims(channels, perChannel), new int[channels]));
      String weight = g.fresh(base + "_dequantized");
      g.addNode(node(g, "DequantizeLinear", List.of(values, scale, zero), weight, axisAttr(perChannel, axis)));
      n.inputs().set(1, weight);
      quantizeBias(g, target, w, affines.get(n.input(0)), perChannel);
    }
    g.sortTopologically();
    g.removeUnused();
    return plan.activations().size();
  }

  /**
   * Conv and Gemm biases become int32 at scale input·weight, zero point 0, which is what
   * QLinearConv and QGemm take; a Gemm bias of another shape or with alpha/beta ≠ 1 stays float.
   */
  private static void quantizeBias(Graph g, Target target, Quantization.Weight w, Affine input, boolean perChannel) {
    Node n = target.node();
    if (n.opType().equals("MatMul") || n.input(2).isEmpty() || input == null) {
      return;
    }
    TensorProto b = BatchNormFolding.constant(g, g.producers(), n.input(2));
    long outputs = Tensors.dims(target.weight())[target.channelAxis()];
    if (b == null || b.getDataType() != Tensors.FLOAT || Tensors.numel(Tensors.dims(b)) != outputs) {
      return;
    }
    if (n.opType().equals("Gemm") && (n.attrFloat("alpha", 1f) != 1f || n.attrFloat("beta", 1f) != 1f)) {
      return;
    }
    float[] bias = Tensors.toFloats(b);
    int[] values = Quantization.bias(bias, input.scale(), w.scales());
    float[] scales = Quantization.biasScales(input.scale(), w.scales());
    String base = n.input(2);
    String q = initializer(g, Quantization.int32(g.fresh(base + "_int32"), new long[] {outputs}, values));
    String s = initializer(g, Quantization.floats(g.fresh(base + "_scale"),
        Quantization.paramDims(scales.length, perChannel), scales));
    String dq = g.fresh(base + "_dequantized");
    g.addNode(node(g, "DequantizeLinear", List.of(q, s), dq, axisAttr(perChannel, 0)));
    n.inputs().set(2, dq);
  }

  private static AttributeProto[] axisAttr(boolean perChannel, int axis) {
    return perChannel ? new AttributeProto[] {Attrs.i("axis", axis)} : new AttributeProto[0];
  }

  private static String initializer(Graph g, TensorProto t) {
    g.addInitializer(t);
    return t.getName();
  }

  private static Node node(Graph g, String op, List<String> inputs, String output, AttributeProto... attrs) {
    Map<String, AttributeProto> map = new LinkedHashMap<>();
    for (AttributeProto a : attrs) {
      map.put(a.getName(), a);
    }
    return new Node(g.fresh(output + "_" + op), op, "", inputs, List.of(output), map);
  }

  static Map<String, List<Node>> consumers(Graph g) {
    Map<String, List<Node>> m = new HashMap<>();
    for (Node n : g.nodes()) {
      for (String in : n.inputs()) {
        if (!in.isEmpty()) {
          m.computeIfAbsent(in, k -> new ArrayList<>()).add(n);
        }
      }
    }
    return m;
  }
}
