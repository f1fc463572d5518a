package io.wattlab.trainer.model;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphException;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.ShapeInference;
import io.wattlab.trainer.onnx.Tensors;
import java.util.HashSet;
import java.util.Set;

/**
 * Size and cost of an inference model, as a run report states them.
 *
 * @param parameters learned values: the float initializers that are weights or biases of Conv,
 *     ConvTranspose, Gemm and MatMul, BatchNorm scale and bias, and non-scalar operands of Add, Sub,
 *     Mul and Div (a bias added after MatMul); not BatchNorm running statistics, not scalar constants
 * @param nonZeroParameters those of them that are not exactly zero (what pruning lowers)
 * @param macsPerImage multiply-accumulates of one forward pass on one image, counting Conv
 *     ({@code Cout·(Cin/groups)·kH·kW·Hout·Wout}), Gemm and MatMul ({@code in·out} per output row);
 *     elementwise ops, pooling and BatchNorm are not counted (as in the usual MAC tables)
 * @param bytes storage of all initializers at their element types' sizes
 */
public record ModelFacts(long parameters, long nonZeroParameters, long macsPerImage, long bytes) {

  /**
   * Counts a model's facts; shapes come from the engine's shape inference with the batch set to 1.
   *
   * @throws IllegalArgumentException when the model's image size is not fixed or a shape cannot be
   *     inferred (the message names the node)
   */
  public static ModelFacts of(ModelProto model) {
    Graph g = Graph.fromModel(model);
    long bytes = 0;
    for (TensorProto t : g.initializers().values()) {
      bytes += Tensors.numel(Tensors.dims(t)) * elementBytes(t.getDataType());
    }
    unshareIdentityCopies(g);
    Set<String> learned = learnedInitializers(g);
    long parameters = 0;
    long nonZero = 0;
    for (TensorProto t : g.initializers().values()) {
      long count = Tensors.numel(Tensors.dims(t));
      if (learned.contains(t.getName())) {
        parameters += count;
        for (double v : Tensors.toDoubles(t)) {
          if (v != 0) {
            nonZero++;
          }
        }
      }
    }
    return new ModelFacts(parameters, nonZero, macs(g), bytes);
  }

  /**
   * torch.onnx.export stores equal-valued tensors once and names the copies through Identity nodes
   * (every fresh BatchNorm weight of resnet18); each copy is a parameter of its own, as in PyTorch.
   */
  private static void unshareIdentityCopies(Graph g) {
    g.nodes().removeIf(n -> {
      TensorProto source = n.opType().equals("Identity") ? g.initializers().get(n.input(0)) : null;
      if (source != null) {
        g.addInitializer(source.toBuilder().setName(n.output(0)).build());
      }
      return source != null;
    });
  }

  private static Set<String> learnedInitializers(Graph g) {
    Set<String> learned = new HashSet<>();
    for (Node n : g.nodes()) {
      for (int i = 0; i < n.inputs().size(); i++) {
        TensorProto t = g.initializers().get(n.input(i));
        if (t == null) {
          continue;
        }
        // An int8 quantized model (compress.quantize) keeps its weights and biases as integers.
        if ((n.opType().equals("DequantizeLinear") || n.opType().equals("MatMulInteger")) && i == (n.opType()
            .equals("DequantizeLinear") ? 0 : 1) && t.getDataType() != Tensors.FLOAT) {
          learned.add(t.getName());
          continue;
        }
        if (t.getDataType() != Tensors.FLOAT && t.getDataType() != Tensors.DOUBLE) {
          continue;
        }
        if (isWeightInput(n.opType(), i, Tensors.dims(t))) {
          learned.add(t.getName());
        }
      }
    }
    return learned;
  }

  /**
   * Whether input {@code input} of an op, holding an initializer of these dims, is a learned weight
   * (the rule of {@link #parameters()}, element type aside): any input of Conv, ConvTranspose, Gemm
   * and MatMul, BatchNorm's scale and bias, and non-scalar operands of Add, Sub, Mul and Div.
   */
  public static boolean isWeightInput(String opType, int input, long[] dims) {
    return switch (opType) {
      case "Conv", "ConvTranspose", "Gemm", "MatMul" -> true;
      case "BatchNormalization" -> input == 1 || input == 2;
      case "Add", "Sub", "Mul", "Div" -> Tensors.numel(dims) > 1;
      default -> false;
    };
  }

  private static long macs(Graph g) {
    g.inputs().replaceAll((name, t) -> {
      long[] d = t.dims().clone();
      if (d.length > 0 && d[0] < 0) {
        d[0] = 1;
      }
      for (int i = 1; i < d.length; i++) {
        if (d[i] < 0) {
          throw new IllegalArgumentException("input " + name + " has an open dimension " + i + " (" + t
              + "); MACs need a fixed image size");
        }
      }
      return t.withDims(d);
    });
    ShapeInference shapes;
    try {
      shapes = ShapeInference.run(g);
    } catch (GraphException e) {
      throw new IllegalArgumentException("cannot count MACs of model " + g.name() + ": " + e.getMessage(), e);
    }
    long total = 0;
    for (Node n : g.nodes()) {
      switch (n.opType()) {
        case "Conv" -> {
          long[] w = shapes.dims(n.input(1));
          long[] y = shapes.dims(n.output(0));
          long perOutput = w[1];
          for (int i = 2; i < w.length; i++) {
            perOutput *= w[i];
          }
          total += Tensors.numel(y) * perOutput;
        }
        case "Gemm" -> {
          long[] a = shapes.dims(n.input(0));
          long inner = n.attrInt("transA", 0) == 1 ? a[0] : a[1];
          total += Tensors.numel(shapes.dims(n.output(0))) * inner;
        }
        case "MatMul", "MatMulInteger" -> {
          long[] a = shapes.dims(n.input(0));
          total += Tensors.numel(shapes.dims(n.output(0))) * a[a.length - 1];
        }
        default -> { }
      }
    }
    return total;
  }

  private static long elementBytes(int elemType) {
    return switch (TensorProto.DataType.forNumber(elemType)) {
      case FLOAT, INT32, UINT32 -> 4;
      case DOUBLE, INT64, UINT64, COMPLEX64 -> 8;
      case FLOAT16, BFLOAT16, INT16, UINT16 -> 2;
      case INT8, UINT8, BOOL -> 1;
      case COMPLEX128 -> 16;
      default -> throw new IllegalArgumentException("initializer of element type " + elemType + " has no known size");
    };
  }

  /** Parameters in millions, MACs in millions, bytes in MiB, for logs. */
  @Override
  public String toString() {
    return String.format("%,d parameters (%,d non-zero), %.1f MMACs per image, %.2f MiB", parameters,
        nonZeroParameters, macsPerImage / 1e6, bytes / (1024.0 * 1024.0));
  }

}
