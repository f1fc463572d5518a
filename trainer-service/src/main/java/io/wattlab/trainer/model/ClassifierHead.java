package io.wattlab.trainer.model;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.Tensors;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Replaces the final fully connected layer of a classifier so that it has a given number of
 * classes: the usual first step of fine-tuning a pre-trained model on a new dataset. The new
 * weight and bias are drawn as PyTorch's {@code nn.Linear} initialises them (uniform in
 * ±1/√in_features, its {@code reset_parameters}), from a fixed seed so that runs repeat.
 */
public final class ClassifierHead {

  private ClassifierHead() {}

  /** The last dimension of the model's first output, or -1 where it is not fixed. */
  public static long classes(ModelProto model) {
    Graph g = Graph.fromModel(model);
    TensorType out = g.outputs().values().iterator().next();
    return out.rank() == 0 ? -1 : out.dims()[out.rank() - 1];
  }

  /**
   * The model with a fresh {@code classes}-way head; the model itself when it has that many already.
   *
   * @throws IllegalArgumentException naming the node that produces the output when it is not a
   *     Gemm, or a MatMul with an optional bias Add, whose weight is an initializer
   */
  public static ModelProto replace(ModelProto model, int classes, long seed) {
    if (classes(model) == classes) {
      return model;
    }
    Graph g = Graph.fromModel(model);
    String output = g.outputs().keySet().iterator().next();
    Map<String, Node> producers = g.producers();
    Node last = producers.get(output);
    if (last == null) {
      throw new IllegalArgumentException("output " + output + " is not produced by a node");
    }
    Node bias = null;
    Node linear = last;
    if (last.opType().equals("Add")) {
      bias = last;
      linear = producers.get(last.input(0));
      if (linear == null || !g.initializers().containsKey(last.input(1))) {
        throw unsupported(last, output);
      }
    }
    SplittableRandom random = new SplittableRandom(seed);
    switch (linear.opType()) {
      case "Gemm" -> {
        if (bias != null || linear.attrInt("transA", 0) != 0) {
          throw unsupported(linear, output);
        }
        TensorProto w = weight(g, linear, output);
        boolean transB = linear.attrInt("transB", 0) == 1;
        long[] d = Tensors.dims(w);
        long in = transB ? d[1] : d[0];
        long[] newDims = transB ? new long[] {classes, in} : new long[] {in, classes};
        g.addInitializer(Tensors.floats(w.getName(), newDims, uniform(random, classes * in, in)));
        if (!linear.input(2).isEmpty()) {
          TensorProto b = g.initializers().get(linear.input(2));
          if (b == null || Tensors.numel(Tensors.dims(b)) <= 1) {
            throw unsupported(linear, output);
          }
          g.addInitializer(Tensors.floats(b.getName(), new long[] {classes}, uniform(random, classes, in)));
        }
      }
      case "MatMul" -> {
        TensorProto w = weight(g, linear, output);
        long in = Tensors.dims(w)[0];
        g.addInitializer(Tensors.floats(w.getName(), new long[] {in, classes}, uniform(random, classes * in, in)));
        if (bias != null) {
          g.addInitializer(Tensors.floats(bias.input(1), new long[] {classes}, uniform(random, classes, in)));
        }
      }
      default -> throw unsupported(linear, output);
    }
    TensorType out = g.outputs().get(output);
    long[] dims = out.dims().clone();
    dims[dims.length - 1] = classes;
    g.outputs().put(output, out.withDims(dims));
    ModelProto.Builder b = g.toModel().toBuilder();
    b.clearOpsetImport().addAllOpsetImport(model.getOpsetImportList());
    return b.setIrVersion(model.getIrVersion()).build();
  }

  private static TensorProto weight(Graph g, Node linear, String output) {
    TensorProto w = g.initializers().get(linear.input(1));
    if (w == null || Tensors.dims(w).length != 2 || w.getDataType() != Tensors.FLOAT) {
      throw unsupported(linear, output);
    }
    if (g.nodes().stream().filter(n -> n.inputs().contains(w.getName())).count() > 1) {
      throw new IllegalArgumentException("the head weight " + w.getName() + " of " + linear.describe()
          + " is shared with other nodes; it cannot be resized alone");
    }
    return w;
  }

  private static float[] uniform(SplittableRandom random, long count, long fanIn) {
    double bound = 1 / Math.sqrt(fanIn);
    float[] v = new float[Math.toIntExact(count)];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
    }
    return v;
  }

  private static IllegalArgumentException unsupported(Node n, String output) {
    return new IllegalArgumentException("cannot replace the classifier head: output " + output + " comes from "
        + n.describe() + "; only a final Gemm (transA 0, initializer weight and bias) or MatMul with an optional"
        + " bias Add is replaced");
  }
}
