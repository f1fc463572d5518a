package io.wattlab.trainer.graph;

import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.onnx.Tensors;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * Static shape and element-type inference for the ops the engine supports, with the values of
 * small int64 tensors (shape subgraphs: Shape, Gather, Slice, Concat, ...) folded so that Reshape
 * targets are known. Graph inputs must have static shapes (the batch size is fixed per graph).
 */
public final class ShapeInference {

  /** Ops whose outputs have the type and shape of their first input. */
  private static final Set<String> UNARY = Set.of("Relu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish",
      "Identity", "Neg", "Sqrt", "Exp", "Log", "Reciprocal", "Softmax", "LogSoftmax", "Abs", "Clip",
      "LeakyRelu", "Elu", "Erf", "Floor", "Ceil", "Not", "Sign");
  private static final Set<String> BROADCAST = Set.of("Add", "Sub", "Mul", "Div", "Pow", "Sum", "Max",
      "Min", "Mean", "Where", "And", "Or");
  /** Ops with boolean outputs of their inputs' broadcast shape (IsInf, IsNaN: the mixed-precision overflow check). */
  private static final Set<String> COMPARE = Set.of("Greater", "Less", "Equal", "GreaterOrEqual",
      "LessOrEqual", "IsInf", "IsNaN");

  private final Map<String, TensorType> types = new HashMap<>();
  private final Map<String, long[]> values = new HashMap<>();
  private final Graph graph;

  private ShapeInference(Graph graph) {
    this.graph = graph;
  }

  /** Infers every value's type in the graph; fails naming the node whose shape cannot be known. */
  public static ShapeInference run(Graph graph) {
    ShapeInference si = new ShapeInference(graph);
    graph.inputs().forEach(si.types::put);
    for (TensorProto t : graph.initializers().values()) {
      si.types.put(t.getName(), new TensorType(t.getDataType(), Tensors.dims(t)));
      if (t.getDataType() == Tensors.INT64 && Tensors.numel(Tensors.dims(t)) <= 64) {
        si.values.put(t.getName(), Tensors.toLongs(t));
      }
    }
    for (Node n : graph.nodes()) {
      try {
        si.infer(n);
      } catch (RuntimeException e) {
        throw new GraphException(n.describe() + ": cannot infer output shape: " + e.getMessage());
      }
    }
    return si;
  }

  public Map<String, TensorType> types() {
    return types;
  }

  public TensorType type(String value) {
    TensorType t = types.get(value);
    if (t == null) {
      throw new GraphException("no type known for value " + value);
    }
    return t;
  }

  public long[] dims(String value) {
    return type(value).dims();
  }

  /** The folded value of a small int64 tensor, or null when not a constant. */
  public long[] value(String name) {
    return values.get(name);
  }

  private void set(Node n, int output, int elemType, long... dims) {
    if (!n.output(output).isEmpty()) {
      types.put(n.output(output), new TensorType(elemType, dims));
    }
  }

  private TensorType in(Node n, int i) {
    return type(n.input(i));
  }

  private long[] constInput(Node n, int i) {
    long[] v = values.get(n.input(i));
    if (v == null) {
      throw new GraphException("input " + i + " (" + n.input(i) + ") must be a constant");
    }
    return v;
  }

  private void infer(Node n) {
    String op = n.opType();
    if (UNARY.contains(op)) {
      set(n, 0, in(n, 0).elemType(), in(n, 0).dims());
      return;
    }
    if (BROADCAST.contains(op) || COMPARE.contains(op)) {
      long[] dims = in(n, 0).dims();
      for (int i = 1; i < n.inputs().size(); i++) {
        dims = broadcast(dims, in(n, i).dims());
      }
      int elem = COMPARE.contains(op) ? Tensors.BOOL : op.equals("Where") ? in(n, 1).elemType() : in(n, 0).elemType();
      set(n, 0, elem, dims);
      foldElementwise(n);
      return;
    }
    switch (op) {
      case "Constant" -> {
        TensorProto t = n.attributes().get("value").getT();
        set(n, 0, t.getDataType(), Tensors.dims(t));
        if (t.getDataType() == Tensors.INT64 && Tensors.numel(Tensors.dims(t)) <= 64) {
          values.put(n.output(0), Tensors.toLongs(t));
        }
      }
      case "Conv" -> set(n, 0, in(n, 0).elemType(), convDims(n, in(n, 0).dims(), in(n, 1).dims()));
      case "MaxPool", "AveragePool" -> {
        long[] x = in(n, 0).dims();
        long[] k = n.attrInts("kernel_shape");
        long[] w = new long[2 + k.length];
        w[0] = x[1];
        w[1] = 1;
        System.arraycopy(k, 0, w, 2, k.length);
        long[] out = convDims(n, x, w);
        set(n, 0, in(n, 0).elemType(), out);
        set(n, 1, Tensors.INT64, out);
      }
      case "GlobalAveragePool", "GlobalMaxPool" -> {
        long[] x = in(n, 0).dims().clone();
        for (int i = 2; i < x.length; i++) {
          x[i] = 1;
        }
        set(n, 0, in(n, 0).elemType(), x);
      }
      case "BatchNormalization" -> {
        set(n, 0, in(n, 0).elemType(), in(n, 0).dims());
        for (int i = 1; i < n.outputs().size(); i++) {
          set(n, i, in(n, 1).elemType(), in(n, 3).dims());
        }
      }
      case "Gemm" -> {
        long[] a = in(n, 0).dims();
        long[] b = in(n, 1).dims();
        long m = n.attrInt("transA", 0) == 1 ? a[1] : a[0];
        long nn = n.attrInt("transB", 0) == 1 ? b[0] : b[1];
        set(n, 0, in(n, 0).elemType(), m, nn);
      }
      case "MatMul" -> set(n, 0, in(n, 0).elemType(), matmulDims(in(n, 0).dims(), in(n, 1).dims()));
      // int8 quantization (compress.quantize): QDQ pairs keep the shape, the integer product is int32.
      case "QuantizeLinear" -> set(n, 0, n.input(2).isEmpty() ? TensorProto.DataType.UINT8_VALUE : in(n, 2).elemType(),
          in(n, 0).dims());
      case "DequantizeLinear" -> set(n, 0, Tensors.FLOAT, in(n, 0).dims());
      case "DynamicQuantizeLinear" -> {
        set(n, 0, TensorProto.DataType.UINT8_VALUE, in(n, 0).dims());
        set(n, 1, Tensors.FLOAT);
        set(n, 2, TensorProto.DataType.UINT8_VALUE);
      }
      case "MatMulInteger" -> set(n, 0, Tensors.INT32, matmulDims(in(n, 0).dims(), in(n, 1).dims()));
      case "Flatten" -> {
        long[] x = in(n, 0).dims();
        int axis = (int) normAxis(n.attrInt("axis", 1), x.length + 1);
        long a = 1;
        long b = 1;
        for (int i = 0; i < x.length; i++) {
          if (i < axis) {
            a *= x[i];
          } else {
            b *= x[i];
          }
        }
        set(n, 0, in(n, 0).elemType(), a, b);
      }
      case "Reshape" -> set(n, 0, in(n, 0).elemType(), reshapeDims(in(n, 0).dims(), constInput(n, 1),
          n.attrInt("allowzero", 0) == 1));
      case "Transpose" -> {
        long[] x = in(n, 0).dims();
        long[] perm = n.attrInts("perm");
        long[] out = new long[x.length];
        for (int i = 0; i < x.length; i++) {
          out[i] = x[perm == null ? x.length - 1 - i : (int) perm[i]];
        }
        set(n, 0, in(n, 0).elemType(), out);
        long[] v = values.get(n.input(0));
        if (v != null && x.length == 1) {
          values.put(n.output(0), v);
        }
      }
      case "Squeeze" -> {
        long[] x = in(n, 0).dims();
        long[] axes = graph.opset() >= 13 ? (n.input(1).isEmpty() ? null : constInput(n, 1)) : n.attrInts("axes");
        boolean[] drop = new boolean[x.length];
        for (int i = 0; i < x.length; i++) {
          drop[i] = axes == null && x[i] == 1;
        }
        if (axes != null) {
          for (long a : axes) {
            drop[(int) normAxis(a, x.length)] = true;
          }
        }
        long[] out = new long[x.length];
        int k = 0;
        for (int i = 0; i < x.length; i++) {
          if (!drop[i]) {
            out[k++] = x[i];
          }
        }
        set(n, 0, in(n, 0).elemType(), Arrays.copyOf(out, k));
        long[] v = values.get(n.input(0));
        if (v != null) {
          values.put(n.output(0), v);
        }
      }
      case "Unsqueeze" -> {
        long[] x = in(n, 0).dims();
        long[] axes = graph.opset() >= 13 ? constInput(n, 1) : n.attrInts("axes");
        int rank = x.length + axes.length;
        boolean[] isNew = new boolean[rank];
        for (long a : axes) {
          isNew[(int) normAxis(a, rank)] = true;
        }
        long[] out = new long[rank];
        int k = 0;
        for (int i = 0; i < rank; i++) {
          out[i] = isNew[i] ? 1 : x[k++];
        }
        set(n, 0, in(n, 0).elemType(), out);
        long[] v = values.get(n.input(0));
        if (v != null) {
          values.put(n.output(0), v);
        }
      }
      case "Concat" -> {
        long[] first = in(n, 0).dims().clone();
        int axis = (int) normAxis(n.attrInt("axis", 0), first.length);
        long total = 0;
        boolean allConst = true;
        long[] joined = new long[0];
        for (int i = 0; i < n.inputs().size(); i++) {
          total += in(n, i).dims()[axis];
          long[] v = values.get(n.input(i));
          if (v == null) {
            allConst = false;
          } else {
            long[] j = Arrays.copyOf(joined, joined.length + v.length);
            System.arraycopy(v, 0, j, joined.length, v.length);
            joined = j;
          }
        }
        first[axis] = total;
        set(n, 0, in(n, 0).elemType(), first);
        if (allConst && first.length == 1) {
          values.put(n.output(0), joined);
        }
      }
      case "Split" -> {
        long[] x = in(n, 0).dims();
        int axis = (int) normAxis(n.attrInt("axis", 0), x.length);
        long[] sizes;
        if (graph.opset() >= 13 && !n.input(1).isEmpty()) {
          sizes = constInput(n, 1);
        } else if (n.attrInts("split") != null) {
          sizes = n.attrInts("split");
        } else {
          int parts = n.outputs().size();
          sizes = new long[parts];
          long chunk = (x[axis] + parts - 1) / parts;
          for (int i = 0; i < parts; i++) {
            sizes[i] = Math.min(chunk, x[axis] - chunk * i);
          }
        }
        for (int i = 0; i < sizes.length; i++) {
          long[] o = x.clone();
          o[axis] = sizes[i];
          set(n, i, in(n, 0).elemType(), o);
        }
      }
      case "Pad" -> {
        long[] x = in(n, 0).dims().clone();
        long[] pads = graph.opset() >= 11 ? constInput(n, 1) : n.attrInts("pads");
        long[] axes = n.input(3).isEmpty() ? null : constInput(n, 3);
        for (int j = 0; j < pads.length / 2; j++) {
          int ax = axes == null ? j : (int) normAxis(axes[j], x.length);
          x[ax] += pads[j] + pads[j + pads.length / 2];
        }
        set(n, 0, in(n, 0).elemType(), x);
      }
      case "Dropout" -> {
        set(n, 0, in(n, 0).elemType(), in(n, 0).dims());
        set(n, 1, Tensors.BOOL, in(n, 0).dims());
      }
      case "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2", "ReduceSumSquare" -> {
        set(n, 0, in(n, 0).elemType(), reducedDims(n));
      }
      case "Shape" -> {
        long[] x = in(n, 0).dims();
        int start = (int) normAxisClamp(n.attrInt("start", 0), x.length);
        int end = (int) normAxisClamp(n.attrInt("end", x.length), x.length);
        long[] v = Arrays.copyOfRange(x, start, Math.max(start, end));
        set(n, 0, Tensors.INT64, v.length);
        if (Arrays.stream(v).allMatch(d -> d >= 0)) {
          values.put(n.output(0), v);
        }
      }
      case "Size" -> {
        set(n, 0, Tensors.INT64);
        values.put(n.output(0), new long[] {in(n, 0).numel()});
      }
      case "Gather" -> {
        long[] data = in(n, 0).dims();
        long[] idx = in(n, 1).dims();
        int axis = (int) normAxis(n.attrInt("axis", 0), data.length);
        long[] out = new long[data.length - 1 + idx.length];
        int k = 0;
        for (int i = 0; i < axis; i++) {
          out[k++] = data[i];
        }
        for (long d : idx) {
          out[k++] = d;
        }
        for (int i = axis + 1; i < data.length; i++) {
          out[k++] = data[i];
        }
        set(n, 0, in(n, 0).elemType(), out);
        long[] dv = values.get(n.input(0));
        long[] iv = values.get(n.input(1));
        if (dv != null && iv != null && data.length == 1) {
          long[] r = new long[iv.length];
          for (int i = 0; i < iv.length; i++) {
            r[i] = dv[(int) (iv[i] < 0 ? iv[i] + dv.length : iv[i])];
          }
          values.put(n.output(0), r);
        }
      }
      case "Slice" -> {
        long[] x = in(n, 0).dims().clone();
        long[] starts = constInput(n, 1);
        long[] ends = constInput(n, 2);
        long[] axes = n.input(3).isEmpty() ? null : constInput(n, 3);
        long[] steps = n.input(4).isEmpty() ? null : constInput(n, 4);
        long[] v = values.get(n.input(0));
        long[] newV = v;
        for (int j = 0; j < starts.length; j++) {
          int ax = axes == null ? j : (int) normAxis(axes[j], x.length);
          long step = steps == null ? 1 : steps[j];
          if (step < 0) {
            // Backwards (the flipped kernels of ConvRules): start clamps to [0, dim-1], end to [-1, dim-1].
            long dim = x[ax];
            long s = Math.max(0, Math.min(dim - 1, starts[j] < 0 ? starts[j] + dim : starts[j]));
            long e = Math.max(-1, Math.min(dim - 1, ends[j] < 0 ? Math.max(-1 - dim, ends[j]) + dim : ends[j]));
            x[ax] = Math.max(0, (s - e - step - 1) / -step);
            newV = null;
            continue;
          }
          if (step != 1) {
            throw new GraphException("Slice with step " + step + " is not supported");
          }
          long s = clampIndex(starts[j], x[ax]);
          long e = clampIndex(ends[j], x[ax]);
          if (v != null && x.length == 1) {
            newV = Arrays.copyOfRange(v, (int) s, (int) Math.max(s, e));
          }
          x[ax] = Math.max(0, e - s);
        }
        set(n, 0, in(n, 0).elemType(), x);
        if (newV != null && x.length == 1) {
          values.put(n.output(0), newV);
        }
      }
      case "Cast" -> {
        set(n, 0, (int) n.attrInt("to", 1), in(n, 0).dims());
        long[] v = values.get(n.input(0));
        if (v != null && n.attrInt("to", 1) == Tensors.INT64) {
          values.put(n.output(0), v);
        }
      }
      case "Expand" -> set(n, 0, in(n, 0).elemType(), broadcast(in(n, 0).dims(), constInput(n, 1)));
      case "ConstantOfShape" -> {
        int elem = n.hasAttr("value") ? n.attributes().get("value").getT().getDataType() : Tensors.FLOAT;
        set(n, 0, elem, constInput(n, 0));
      }
      case "OneHot" -> {
        long[] idx = in(n, 0).dims();
        long depth = constInputAsLong(n, 1);
        long[] out = Arrays.copyOf(idx, idx.length + 1);
        int axis = (int) normAxis(n.attrInt("axis", -1), out.length);
        System.arraycopy(idx, axis, out, axis + 1, idx.length - axis);
        out[axis] = depth;
        set(n, 0, in(n, 2).elemType(), out);
      }
      case "ConvTranspose" -> {
        long[] x = in(n, 0).dims();
        long[] w = in(n, 1).dims();
        long[] out = new long[x.length];
        out[0] = x[0];
        out[1] = w[1] * n.attrInt("group", 1);
        int sp = x.length - 2;
        long[] strides = orOnes(n.attrInts("strides"), sp);
        long[] dil = orOnes(n.attrInts("dilations"), sp);
        long[] pads = n.attrInts("pads") == null ? new long[2 * sp] : n.attrInts("pads");
        long[] opad = n.attrInts("output_padding") == null ? new long[sp] : n.attrInts("output_padding");
        for (int i = 0; i < sp; i++) {
          out[2 + i] = strides[i] * (x[2 + i] - 1) + opad[i] + (w[2 + i] - 1) * dil[i] + 1 - pads[i] - pads[sp + i];
        }
        set(n, 0, in(n, 0).elemType(), out);
      }
      case "BatchNormalize" -> {
        long[] x = in(n, 0).dims();
        int channel = (int) n.attrInt("channel_axis", 1);
        long[] stat = new long[x.length];
        java.util.Arrays.fill(stat, 1);
        stat[channel] = x[channel];
        // (y, mean, var, invStd, centered, scale): see NormalizationRules
        for (int i = 0; i < 6; i++) {
          set(n, i, in(n, 0).elemType(), i == 0 || i == 4 ? x : stat);
        }
      }
      case "ScatterElements" -> set(n, 0, in(n, 0).elemType(), in(n, 0).dims());
      case "Loop" -> {
        // Only produced by the engine itself, never re-inferred.
      }
      default -> throw new GraphException("no shape inference for op " + op);
    }
  }

  private long constInputAsLong(Node n, int i) {
    long[] v = values.get(n.input(i));
    if (v != null) {
      return v[0];
    }
    TensorProto t = graph.initializers().get(n.input(i));
    if (t != null) {
      return Tensors.toLongs(t)[0];
    }
    throw new GraphException("input " + n.input(i) + " must be a constant");
  }

  private void foldElementwise(Node n) {
    long[] a = values.get(n.input(0));
    long[] b = values.get(n.input(1));
    if (a == null || b == null || n.inputs().size() != 2) {
      return;
    }
    int len = Math.max(a.length, b.length);
    long[] r = new long[len];
    for (int i = 0; i < len; i++) {
      long x = a[a.length == 1 ? 0 : i];
      long y = b[b.length == 1 ? 0 : i];
      switch (n.opType()) {
        case "Add" -> r[i] = x + y;
        case "Sub" -> r[i] = x - y;
        case "Mul" -> r[i] = x * y;
        case "Div" -> r[i] = x / y;
        default -> {
          return;
        }
      }
    }
    values.put(n.output(0), r);
  }

  /** Whether a Reduce* node takes its axes as an input (ReduceSum from opset 13, the others from 18). */
  public static boolean axesAsInput(String opType, int opset) {
    return opType.equals("ReduceSum") ? opset >= 13 : opset >= 18;
  }

  /** The normalized reduction axes of a Reduce* node; all axes when none are given. */
  public long[] reduceAxes(Node n) {
    int rank = in(n, 0).rank();
    long[] axes = axesAsInput(n.opType(), graph.opset())
        ? (n.input(1).isEmpty() ? null : constInput(n, 1)) : n.attrInts("axes");
    if (axes == null || axes.length == 0) {
      axes = new long[rank];
      for (int i = 0; i < rank; i++) {
        axes[i] = i;
      }
    }
    long[] norm = new long[axes.length];
    for (int i = 0; i < axes.length; i++) {
      norm[i] = normAxis(axes[i], rank);
    }
    Arrays.sort(norm);
    return norm;
  }

  private long[] reducedDims(Node n) {
    long[] x = in(n, 0).dims();
    long[] axes = reduceAxes(n);
    boolean keep = n.attrInt("keepdims", 1) == 1;
    long[] out = new long[x.length];
    int k = 0;
    for (int i = 0; i < x.length; i++) {
      boolean reduced = Arrays.binarySearch(axes, i) >= 0;
      if (!reduced) {
        out[k++] = x[i];
      } else if (keep) {
        out[k++] = 1;
      }
    }
    return Arrays.copyOf(out, k);
  }

  static long[] orOnes(long[] v, int n) {
    if (v != null) {
      return v;
    }
    long[] ones = new long[n];
    Arrays.fill(ones, 1);
    return ones;
  }

  /** Output spatial dims of a Conv or pool given input dims and weight dims [O, C/g, k...]. */
  static long[] convDims(Node n, long[] x, long[] w) {
    int sp = x.length - 2;
    long[] strides = orOnes(n.attrInts("strides"), sp);
    long[] dil = orOnes(n.attrInts("dilations"), sp);
    long[] pads = ConvGeometry.pads(n, x, w);
    boolean ceil = n.attrInt("ceil_mode", 0) == 1;
    long[] out = new long[x.length];
    out[0] = x[0];
    out[1] = w[0];
    for (int i = 0; i < sp; i++) {
      long eff = (w[2 + i] - 1) * dil[i] + 1;
      long span = x[2 + i] + pads[i] + pads[sp + i] - eff;
      out[2 + i] = (ceil ? Math.floorDiv(span + strides[i] - 1, strides[i]) : Math.floorDiv(span, strides[i])) + 1;
    }
    return out;
  }

  static long[] matmulDims(long[] a, long[] b) {
    if (a.length < 2 || b.length < 2) {
      throw new GraphException("MatMul with a 1-D operand is not supported");
    }
    long[] batchA = Arrays.copyOf(a, a.length - 2);
    long[] batchB = Arrays.copyOf(b, b.length - 2);
    long[] batch = broadcast(batchA, batchB);
    long[] out = Arrays.copyOf(batch, batch.length + 2);
    out[batch.length] = a[a.length - 2];
    out[batch.length + 1] = b[b.length - 1];
    return out;
  }

  static long[] reshapeDims(long[] x, long[] target, boolean allowZero) {
    long[] out = target.clone();
    long known = 1;
    int infer = -1;
    for (int i = 0; i < out.length; i++) {
      if (out[i] == 0 && !allowZero) {
        out[i] = x[i];
      }
      if (out[i] == -1) {
        infer = i;
      } else {
        known *= out[i];
      }
    }
    if (infer >= 0) {
      long total = 1;
      for (long d : x) {
        total *= d;
      }
      out[infer] = total / known;
    }
    return out;
  }

  /** Numpy-style broadcast of two shapes. */
  public static long[] broadcast(long[] a, long[] b) {
    int rank = Math.max(a.length, b.length);
    long[] out = new long[rank];
    for (int i = 0; i < rank; i++) {
      long da = i < rank - a.length ? 1 : a[i - (rank - a.length)];
      long db = i < rank - b.length ? 1 : b[i - (rank - b.length)];
      if (da != db && da != 1 && db != 1) {
        throw new GraphException("shapes " + Arrays.toString(a) + " and " + Arrays.toString(b)
            + " do not broadcast");
      }
      out[i] = da == 1 ? db : da;
    }
    return out;
  }

  static long normAxis(long axis, int rank) {
    return axis < 0 ? axis + rank : axis;
  }

  private static long normAxisClamp(long axis, int rank) {
    long a = axis < 0 ? axis + rank : axis;
    return Math.max(0, Math.min(rank, a));
  }

  private static long clampIndex(long i, long dim) {
    long v = i < 0 ? i + dim : i;
    return Math.max(0, Math.min(dim, v));
  }
}
