package io.wattlab.trainer.compress.precision;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.compress.CompressionPass;
import io.wattlab.trainer.compress.Compressed;
import io.wattlab.trainer.compress.PassParameters;
import io.wattlab.trainer.compress.mantissa.LearnedWeights;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.train.ParameterConstraint;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Technique {@code precision}: every learned weight ({@link LearnedWeights}) rounded to float16 or
 * bfloat16 (nearest, ties to even, saturating) and rounded again after every optimizer step, so
 * that the trained model's weights are exactly representable in the format. Weights stay float32
 * tensors and the arithmetic stays float32: wattlab does not build a 16-bit compute graph, and on
 * the CPU ONNX Runtime would not run one in 16 bits anyway ({@link #CPU_KERNELS}); the report says
 * so in {@code compute} and {@code compute_reason}.
 */
public final class PrecisionPass implements CompressionPass {

  public static final String TECHNIQUE = "precision";

  /**
   * What ONNX Runtime 1.29's CPU execution provider does with 16-bit graphs, as found by opening
   * one-node sessions (PrecisionCpuKernelsTest checks it still holds for the ONNX Runtime on the
   * class path): float16 has kernels for Gemm and MatMul only; around Conv, BatchNormalization,
   * Relu, Add, GlobalAveragePool and Softmax its graph transformer inserts Casts to float32, so
   * those run in float32; bfloat16 has no kernels at all.
   */
  public static final Map<ReducedFloat, String> CPU_KERNELS = Map.of(
      ReducedFloat.FP16, "CPU execution provider has no float16 Conv kernel: ONNX Runtime wraps float16 Conv, "
          + "BatchNormalization, Relu and Add in Casts to float32 (InsertedPrecisionFreeCast); only Gemm and MatMul "
          + "have float16 kernels",
      ReducedFloat.BF16, "CPU execution provider has no bfloat16 kernels: Type 'tensor(bfloat16)' of input "
          + "parameter (x) of operator (Conv) is invalid; Gemm, MatMul, BatchNormalization, Relu, Add: "
          + "ORT_NOT_IMPLEMENTED");

  private final PassParameters parameters;
  private final ReducedFloat format;

  public PrecisionPass(PassParameters parameters) {
    this.parameters = parameters;
    this.format = ReducedFloat.of(parameters.choice("format", "fp16", "bf16"));
  }

  @Override
  public String technique() {
    return TECHNIQUE;
  }

  @Override
  public PassParameters parameters() {
    return parameters;
  }

  public ReducedFloat format() {
    return format;
  }

  @Override
  public Compressed apply(ModelProto model) {
    LearnedWeights weights = LearnedWeights.of(model.getGraph());
    Set<String> targets = weights.tensors();
    long values = 0;
    long changed = 0;
    long saturated = 0;
    long flushed = 0;
    long subnormal = 0;
    float smallestNormal = format == ReducedFloat.FP16 ? 0x1p-14f : Float.MIN_NORMAL;
    double maxRelativeChange = 0;
    float largest = format.fromBits(largestFiniteBits());
    GraphProto.Builder graph = model.getGraph().toBuilder();
    for (int i = 0; i < graph.getInitializerCount(); i++) {
      TensorProto t = graph.getInitializer(i);
      if (!targets.contains(t.getName())) {
        continue;
      }
      float[] v = Tensors.toFloats(t);
      for (int j = 0; j < v.length; j++) {
        float r = format.round(v[j]);
        if (Float.floatToRawIntBits(r) != Float.floatToRawIntBits(v[j])) {
          changed++;
          if (Math.abs(v[j]) > largest) {
            saturated++;
          } else if (r == 0 && v[j] != 0) {
            flushed++;
          } else if (Math.abs(v[j]) < smallestNormal) {
            subnormal++; // a fixed absolute step of the format's smallest subnormal, not a relative one
          } else {
            maxRelativeChange = Math.max(maxRelativeChange, Math.abs((r - v[j]) / (double) v[j]));
          }
        }
        v[j] = r;
      }
      values += v.length;
      graph.setInitializer(i, Tensors.floats(t.getName(), Tensors.dims(t), v).toBuilder()
          .setDocString(t.getDocString()).build());
    }
    Map<String, String> details = new LinkedHashMap<>();
    details.put("weights", format.word() + "-rounded");
    details.put("weight_storage", "float32 tensors holding " + format.word() + " values, rounded again after every "
        + "optimizer step (no separate fp32 master copy: an update under half a unit in the last place is lost)");
    details.put("compute", "fp32");
    details.put("compute_reason", "no " + format.word() + " compute graph is built (CUDA: not implemented yet); "
        + CPU_KERNELS.get(format));
    details.put("loss_scaling", "none (gradients are float32)");
    details.put("weight_tensors", Integer.toString(targets.size()));
    details.put("weight_values", Long.toString(values));
    details.put("values_changed", Long.toString(changed));
    details.put("values_saturated", Long.toString(saturated));
    details.put("values_flushed_to_zero", Long.toString(flushed));
    details.put("values_subnormal", Long.toString(subnormal));
    details.put("max_relative_change", String.format(Locale.ROOT, "%.3g", maxRelativeChange));
    ModelProto out = model.toBuilder().setGraph(graph).build();
    return new Compressed(out, details, List.of(new RoundToFormat(weights.allNames(), format)));
  }

  private short largestFiniteBits() {
    return format == ReducedFloat.FP16 ? (short) 0x7BFF : (short) 0x7F7F;
  }

  /**
   * Rounds its parameters to the format again after each optimizer step.
   *
   * @param parameters training names of the weights (Identity copies included)
   * @param format the format whose values they must hold
   */
  public record RoundToFormat(Set<String> parameters, ReducedFloat format) implements ParameterConstraint {

    public RoundToFormat {
      parameters = Set.copyOf(parameters);
    }

    @Override
    public void enforce(String parameter, FloatBuffer values) {
      for (int i = 0; i < values.capacity(); i++) {
        values.put(i, format.round(values.get(i)));
      }
    }
  }
}
