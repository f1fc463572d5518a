package io.wattlab.trainer.graph.autodiff;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.ShapeInference;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.Sessions;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Finite-difference check of the engine's gradients: builds a one-op graph, a scalar loss
 * sum(out_i * w_i) with fixed random w_i, differentiates it, and compares every input gradient
 * computed by ONNX Runtime with central differences of the loss, also computed by ONNX Runtime.
 */
final class GradientCheck {
  private final int elemType;
  private final Graph graph;
  private final Map<String, double[]> values = new LinkedHashMap<>();
  private final List<String> wrt = new ArrayList<>();
  private final Random random = new Random(42);
  private final List<String> outputs = new ArrayList<>();

  GradientCheck(int elemType, int opset) {
    this.elemType = elemType;
    this.graph = new Graph(opset);
  }

  static GradientCheck float64() {
    return new GradientCheck(Tensors.DOUBLE, 17);
  }

  static GradientCheck float32() {
    return new GradientCheck(Tensors.FLOAT, 17);
  }

  int elemType() {
    return elemType;
  }

  /** A differentiable input with uniform random values in [lo, hi). */
  GradientCheck input(String name, double lo, double hi, long... dims) {
    double[] v = new double[(int) Tensors.numel(dims)];
    for (int i = 0; i < v.length; i++) {
      v[i] = lo + (hi - lo) * random.nextDouble();
    }
    return input(name, v, dims);
  }

  GradientCheck input(String name, double[] v, long... dims) {
    graph.addInput(name, new TensorType(elemType, dims));
    values.put(name, v);
    wrt.add(name);
    return this;
  }

  /** A constant (not differentiated) initializer. */
  GradientCheck constant(String name, long[] dims, double... v) {
    graph.addInitializer(Tensors.ofType(name, elemType, dims, v));
    return this;
  }

  /** A boolean constant, such as Where's condition. */
  GradientCheck bools(String name, long[] dims, boolean... v) {
    ai.onnx.proto.OnnxMl.TensorProto.Builder t = ai.onnx.proto.OnnxMl.TensorProto.newBuilder().setName(name)
        .setDataType(Tensors.BOOL);
    for (long d : dims) {
      t.addDims(d);
    }
    for (boolean b : v) {
      t.addInt32Data(b ? 1 : 0);
    }
    graph.addInitializer(t.build());
    return this;
  }

  GradientCheck longs(String name, long... v) {
    graph.addInitializer(Tensors.longs(name, new long[] {v.length}, v));
    return this;
  }

  GradientCheck node(String opType, List<String> inputs, List<String> outs, ai.onnx.proto.OnnxMl.AttributeProto... attrs) {
    Map<String, ai.onnx.proto.OnnxMl.AttributeProto> map = new LinkedHashMap<>();
    for (var a : attrs) {
      map.put(a.getName(), a);
    }
    String domain = opType.equals(NormalizationRules.NORMALIZE) ? NormalizationRules.DOMAIN : "";
    graph.addNode(new Node("n" + graph.nodes().size(), opType, domain, inputs, outs, map));
    return this;
  }

  /** Marks a value whose weighted sum enters the loss. */
  GradientCheck output(String name) {
    outputs.add(name);
    return this;
  }

  /** Runs the check; tolerance is relative to the largest gradient magnitude. */
  void check(double eps, double tolerance) throws OrtException {
    ShapeInference si = ShapeInference.run(graph);
    GraphBuilder b = new GraphBuilder(graph, "loss/");
    List<String> terms = new ArrayList<>();
    for (String o : outputs) {
      long[] dims = si.dims(o);
      double[] w = new double[(int) Tensors.numel(dims)];
      for (int i = 0; i < w.length; i++) {
        w[i] = random.nextGaussian();
      }
      terms.add(b.reduceSumAll(b.mul(o, b.constant(elemType, dims, w))));
    }
    String loss = b.sum(terms);
    graph.outputs().put(loss, new TensorType(elemType, new long[0]));
    Graph lossGraph = Graph.fromModel(graph.toModel());
    Map<String, TensorType> normalized = new LinkedHashMap<>();
    for (Node n : graph.nodes()) {
      if (n.opType().equals(NormalizationRules.NORMALIZE)) {
        normalized.put(n.input(0), si.type(n.input(0)));
      }
    }
    NormalizationRules.expand(lossGraph, normalized);

    Map<String, String> grads = new Autodiff(GradientRegistry.standard()).differentiate(graph, loss, wrt);
    for (String g : grads.values()) {
      graph.outputs().put(g, si.type(wrtOrSelf(grads, g)));
    }
    NormalizationRules.expand(graph, normalized);
    ExecutionConfig cpu = ExecutionConfig.cpu(1);
    Map<String, double[]> analytic = new LinkedHashMap<>();
    try (OrtSession s = Sessions.open(graph.toModel(), cpu); OrtSession.Result r = s.run(feeds(values))) {
      for (String w : wrt) {
        analytic.put(w, read((OnnxTensor) r.get(grads.get(w)).get()));
      }
    }
    try (OrtSession s = Sessions.open(lossGraph.toModel(), cpu)) {
      for (String w : wrt) {
        double[] x = values.get(w);
        double[] a = analytic.get(w);
        double[] numeric = new double[x.length];
        double scale = 1e-12;
        for (int i = 0; i < x.length; i++) {
          double orig = x[i];
          x[i] = orig + eps;
          double plus = lossOf(s);
          x[i] = orig - eps;
          double minus = lossOf(s);
          x[i] = orig;
          numeric[i] = (plus - minus) / (2 * eps);
          scale = Math.max(scale, Math.abs(numeric[i]));
        }
        for (int i = 0; i < x.length; i++) {
          double err = Math.abs(numeric[i] - a[i]) / scale;
          final int idx = i;
          assertTrue(err <= tolerance, () -> "d loss / d " + w + "[" + idx + "]: autodiff " + a[idx]
              + " vs finite difference " + numeric[idx] + " (relative error " + err + ")");
        }
      }
    }
  }

  private static String wrtOrSelf(Map<String, String> grads, String g) {
    return grads.entrySet().stream().filter(e -> e.getValue().equals(g)).findFirst().orElseThrow().getKey();
  }

  private double lossOf(OrtSession s) throws OrtException {
    try (OrtSession.Result r = s.run(feeds(values))) {
      return read((OnnxTensor) r.get(0))[0];
    }
  }

  private Map<String, OnnxTensor> feeds(Map<String, double[]> vals) throws OrtException {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    Map<String, OnnxTensor> m = new LinkedHashMap<>();
    for (var e : vals.entrySet()) {
      long[] dims = graph.inputs().get(e.getKey()).dims();
      if (elemType == Tensors.DOUBLE) {
        m.put(e.getKey(), OnnxTensor.createTensor(env, DoubleBuffer.wrap(e.getValue()), dims));
      } else {
        float[] f = new float[e.getValue().length];
        for (int i = 0; i < f.length; i++) {
          f[i] = (float) e.getValue()[i];
        }
        m.put(e.getKey(), OnnxTensor.createTensor(env, FloatBuffer.wrap(f), dims));
      }
    }
    return m;
  }

  private static double[] read(OnnxTensor t) {
    if (t.getInfo().type == ai.onnxruntime.OnnxJavaType.DOUBLE) {
      DoubleBuffer b = t.getDoubleBuffer();
      double[] d = new double[b.remaining()];
      b.get(d);
      return d;
    }
    FloatBuffer b = t.getFloatBuffer();
    double[] d = new double[b.remaining()];
    for (int i = 0; i < d.length; i++) {
      d[i] = b.get(i);
    }
    return d;
  }

  static ai.onnx.proto.OnnxMl.AttributeProto i(String n, long v) {
    return Attrs.i(n, v);
  }
}
