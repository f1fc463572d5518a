package io.wattlab.trainer.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import io.wattlab.trainer.onnx.Tensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The small vocabulary that passes and gradient rules use to append standard ONNX nodes to a
 * graph: one method per op, returning the new value's name, with constants kept as initializers.
 * Ops whose signature changed across opsets (ReduceMean at 18) are written for the graph's opset.
 */
public final class GraphBuilder {
  private final Graph graph;
  private final String prefix;
  private final Map<String, String> constantCache = new HashMap<>();

  public GraphBuilder(Graph graph, String prefix) {
    this.graph = graph;
    this.prefix = prefix;
  }

  public Graph graph() {
    return graph;
  }

  /** Appends a one-output node and returns the name of its output. */
  public String op(String opType, List<String> inputs, AttributeProto... attrs) {
    return ops(opType, 1, inputs, attrs).get(0);
  }

  public String op(String opType, String... inputs) {
    return op(opType, Arrays.asList(inputs));
  }

  /** Appends a node with n outputs. */
  public List<String> ops(String opType, int outputs, List<String> inputs, AttributeProto... attrs) {
    String nodeName = graph.fresh(prefix + opType);
    List<String> outs = new ArrayList<>();
    for (int i = 0; i < outputs; i++) {
      outs.add(graph.fresh(nodeName + "_out" + i));
    }
    Map<String, AttributeProto> map = new LinkedHashMap<>();
    for (AttributeProto a : attrs) {
      map.put(a.getName(), a);
    }
    graph.addNode(new Node(nodeName, opType, "", inputs, outs, map));
    return outs;
  }

  /** Appends a node writing to a chosen output name. */
  public void opInto(String output, String opType, List<String> inputs, AttributeProto... attrs) {
    Map<String, AttributeProto> map = new LinkedHashMap<>();
    for (AttributeProto a : attrs) {
      map.put(a.getName(), a);
    }
    graph.addNode(new Node(graph.fresh(prefix + opType), opType, "", inputs, List.of(output), map));
  }

  // ---- constants ----

  /** A scalar constant of the given element type. */
  public String scalar(double value, int elemType) {
    return constant(elemType, new long[0], value);
  }

  /** A 1-D int64 constant, for shapes, axes, starts and ends. */
  public String ints(long... values) {
    double[] d = new double[values.length];
    for (int i = 0; i < d.length; i++) {
      d[i] = values[i];
    }
    return constant(Tensors.INT64, new long[] {values.length}, d);
  }

  public String constant(int elemType, long[] dims, double... values) {
    String key = elemType + Arrays.toString(dims) + Arrays.toString(values);
    return constantCache.computeIfAbsent(key, k -> {
      String name = graph.fresh(prefix + "const");
      graph.addInitializer(Tensors.ofType(name, elemType, dims, values));
      return name;
    });
  }

  // ---- arithmetic ----

  public String add(String a, String b) {
    return op("Add", a, b);
  }

  public String sub(String a, String b) {
    return op("Sub", a, b);
  }

  public String mul(String a, String b) {
    return op("Mul", a, b);
  }

  public String div(String a, String b) {
    return op("Div", a, b);
  }

  public String neg(String a) {
    return op("Neg", a);
  }

  public String sqrt(String a) {
    return op("Sqrt", a);
  }

  public String exp(String a) {
    return op("Exp", a);
  }

  public String matmul(String a, String b) {
    return op("MatMul", a, b);
  }

  public String sum(List<String> terms) {
    return terms.size() == 1 ? terms.get(0) : op("Sum", terms);
  }

  public String where(String cond, String a, String b) {
    return op("Where", cond, a, b);
  }

  public String greater(String a, String b) {
    return op("Greater", a, b);
  }

  public String less(String a, String b) {
    return op("Less", a, b);
  }

  public String and(String a, String b) {
    return op("And", a, b);
  }

  public String cast(String a, int elemType) {
    return op("Cast", List.of(a), Attrs.i("to", elemType));
  }

  // ---- shape ----

  public String reshape(String x, long... shape) {
    return op("Reshape", x, ints(shape));
  }

  public String transpose(String x, long... perm) {
    return op("Transpose", List.of(x), Attrs.ints("perm", perm));
  }

  public String expand(String x, long... shape) {
    return op("Expand", x, ints(shape));
  }

  public String slice(String x, long[] starts, long[] ends, long[] axes) {
    return op("Slice", x, ints(starts), ints(ends), ints(axes));
  }

  public String concat(List<String> xs, long axis) {
    return op("Concat", xs, Attrs.i("axis", axis));
  }

  public List<String> split(String x, long axis, long... sizes) {
    return ops("Split", sizes.length, List.of(x, ints(sizes)), Attrs.i("axis", axis));
  }

  public String unsqueeze(String x, long... axes) {
    return op("Unsqueeze", x, ints(axes));
  }

  // ---- reductions ----

  public String reduceSum(String x, boolean keepDims, long... axes) {
    return op("ReduceSum", List.of(x, ints(axes)), Attrs.i("keepdims", keepDims ? 1 : 0));
  }

  public String reduceMean(String x, boolean keepDims, long... axes) {
    if (graph.opset() >= 18) {
      return op("ReduceMean", List.of(x, ints(axes)), Attrs.i("keepdims", keepDims ? 1 : 0));
    }
    return op("ReduceMean", List.of(x), Attrs.ints("axes", axes), Attrs.i("keepdims", keepDims ? 1 : 0));
  }

  /**
   * ReduceSum with keepdims over axes of a tensor of the given rank, done in two stages when the
   * axes are not one trailing block: the trailing contiguous axes first, then the rest. ONNX
   * Runtime's CPU kernel sums a contiguous run in vector lanes but accumulates a strided axis
   * sequentially in float32, which for the 2,048-term sums of a BatchNorm bias gradient drifted
   * a 20-step ResNet-18 run 1% away from PyTorch.
   */
  public String reduceSumKeepDims(String x, int rank, long... axes) {
    return stagedReduce("ReduceSum", x, rank, axes);
  }

  /** ReduceMean with keepdims, staged as {@link #reduceSumKeepDims}. */
  public String reduceMeanKeepDims(String x, int rank, long... axes) {
    return stagedReduce("ReduceMean", x, rank, axes);
  }

  /**
   * Sum of squares with keepdims, staged as {@link #reduceSumKeepDims}: ReduceSumSquare over the
   * first stage, ReduceSum over the second; the squares are never written out as a tensor.
   */
  public String reduceSumSquareKeepDims(String x, int rank, long... axes) {
    return stagedReduce("ReduceSumSquare", x, rank, axes);
  }

  private String stagedReduce(String op, String x, int rank, long[] axes) {
    long[] sorted = axes.clone();
    Arrays.sort(sorted);
    int split = sorted.length;
    while (split > 0 && sorted[split - 1] == rank - (sorted.length - split) - 1) {
      split--;
    }
    long[] trailing = Arrays.copyOfRange(sorted, split, sorted.length);
    return reduceInStages(op, x, trailing, Arrays.copyOfRange(sorted, 0, split));
  }

  /**
   * A reduction with keepdims over each stage's axes in turn (empty stages skipped); where
   * {@code op} is ReduceSumSquare, the stages after the first sum.
   */
  public String reduceInStages(String op, String x, long[]... stages) {
    String r = x;
    String stageOp = op;
    for (long[] stage : stages) {
      if (stage.length > 0) {
        r = switch (stageOp) {
          case "ReduceSum" -> reduceSum(r, true, stage);
          case "ReduceMean" -> reduceMean(r, true, stage);
          default -> graph.opset() >= 18 ? op(stageOp, List.of(r, ints(stage)), Attrs.i("keepdims", 1))
              : op(stageOp, List.of(r), Attrs.ints("axes", stage), Attrs.i("keepdims", 1));
        };
        if (stageOp.equals("ReduceSumSquare")) {
          stageOp = "ReduceSum";
        }
      }
    }
    return r;
  }

  /** Sum over all elements to a scalar. */
  public String reduceSumAll(String x) {
    return op("ReduceSum", List.of(x), Attrs.i("keepdims", 0));
  }
}
