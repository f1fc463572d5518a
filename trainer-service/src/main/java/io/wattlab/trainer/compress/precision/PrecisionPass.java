package io.wattlab.trainer.compress.precision;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.compress.CompressionPass;
import io.wattlab.trainer.compress.Compressed;
import io.wattlab.trainer.compress.InvalidCompressionException;
import io.wattlab.trainer.compress.PassParameters;
import io.wattlab.trainer.compress.mantissa.LearnedWeights;
import io.wattlab.trainer.onnx.ReducedFloat;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.train.LossScaler;
import io.wattlab.trainer.train.MixedPrecision;
import io.wattlab.trainer.train.ParameterConstraint;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Technique {@code precision}, in one of two modes that {@link #on(String)} picks from the device and
 * {@code parameters.compute}:
 *
 * <ul>
 *   <li>16-bit compute (the default on {@code cuda:N}; on the CPU only when {@code compute} names the
 *       format): the weights stay float32 master weights, untouched by the pass, and the train step
 *       computes in the format with dynamic loss scaling ({@link #mixedPrecision()}).
 *   <li>Rounded weights, float32 compute (the default on the CPU, or {@code compute: fp32}): every
 *       learned weight ({@link LearnedWeights}) rounded to the format (nearest, ties to even,
 *       saturating) and again after every optimizer step, so that the trained model's weights are
 *       exactly representable in it; the CPU provider would not compute in 16 bits anyway
 *       ({@link #CPU_KERNELS}).
 * </ul>
 *
 * The report says which ran in {@code compute} and why in {@code compute_reason}.
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

  /** {@code parameters.compute}'s default: 16-bit compute on CUDA, float32 on the CPU. */
  public static final String AUTO = "auto";

  private final PassParameters parameters;
  private final ReducedFloat format;
  private final String compute;
  private final double initialScale;
  private final int growthInterval;
  private final String device;

  public PrecisionPass(PassParameters parameters) {
    this.parameters = parameters;
    this.format = ReducedFloat.of(parameters.choice("format", "fp16", "bf16"));
    this.compute = parameters.choice("compute", AUTO, "fp32", "fp16", "bf16");
    if (!compute.equals(AUTO) && !compute.equals("fp32") && !compute.equals(format.word())) {
      throw PassParameters.invalid("compute", compute + " differs from format " + format.word()
          + " (compute is auto, fp32 or the format)");
    }
    this.initialScale = parameters.number("init_scale", MixedPrecision.DEFAULT_INITIAL_SCALE, 1, 0x1p64);
    this.growthInterval = parameters.integer("growth_interval", MixedPrecision.DEFAULT_GROWTH_INTERVAL, 1,
        1_000_000_000);
    this.device = "cpu";
  }

  private PrecisionPass(PrecisionPass p, String device) {
    this.parameters = p.parameters;
    this.format = p.format;
    this.compute = p.compute;
    this.initialScale = p.initialScale;
    this.growthInterval = p.growthInterval;
    this.device = device;
  }

  /**
   * This pass on a device: {@code compute: auto} becomes 16-bit compute on {@code cuda:N} and float32
   * compute on the CPU.
   *
   * @throws InvalidCompressionException for {@code compute: bf16} on the CPU, whose execution
   *     provider has no bfloat16 kernel at all (the session would not load)
   */
  @Override
  public PrecisionPass on(String device) {
    if (format == ReducedFloat.BF16 && compute.equals("bf16") && !device.startsWith("cuda:")) {
      throw PassParameters.invalid("compute", "bf16 compute cannot run on device " + device + ": ONNX Runtime's "
          + CPU_KERNELS.get(ReducedFloat.BF16) + "; use compute: fp32 (bf16-rounded weights, float32 arithmetic) "
          + "or a cuda:N device");
    }
    return new PrecisionPass(this, device);
  }

  /** Whether the train step computes in the format (else: rounded weights, float32 compute). */
  public boolean computesIn16Bits() {
    return compute.equals(format.word()) || (compute.equals(AUTO) && device.startsWith("cuda:"));
  }

  /** The train step's mixed precision, or null when it computes in float32. */
  public MixedPrecision mixedPrecision() {
    if (!computesIn16Bits()) {
      return null;
    }
    return new MixedPrecision(format == ReducedFloat.FP16 ? Tensors.FLOAT16 : Tensors.BFLOAT16, initialScale,
        growthInterval);
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
      if (!computesIn16Bits()) {
        graph.setInitializer(i, Tensors.floats(t.getName(), Tensors.dims(t), v).toBuilder()
            .setDocString(t.getDocString()).build());
      }
    }
    Map<String, String> details = new LinkedHashMap<>();
    boolean mixed = computesIn16Bits();
    if (mixed) {
      details.put("weights", "fp32 master weights, cast to " + format.word() + " where the forward pass uses them");
      details.put("weight_storage", "float32 tensors updated by a float32 optimizer; the value statistics below are "
          + "what the cast to " + format.word() + " does to the initial weights");
      details.put("compute", format.word());
      details.put("compute_reason", computeReason16());
      details.put("loss_scaling", "dynamic (torch.cuda.amp.GradScaler's scheme): initial scale "
          + LossScaler.text(initialScale) + ", halved on a step whose gradients are not all finite (the step is "
          + "skipped), doubled after " + growthInterval + " steps in a row without one");
      details.put("skipped_steps", "0");
      details.put("final_loss_scale", LossScaler.text(initialScale));
    } else {
      details.put("weights", format.word() + "-rounded");
      details.put("weight_storage", "float32 tensors holding " + format.word() + " values, rounded again after every "
          + "optimizer step (no separate fp32 master copy: an update under half a unit in the last place is lost)");
      details.put("compute", "fp32");
      details.put("compute_reason", computeReason32());
      details.put("loss_scaling", "none (gradients are float32)");
    }
    details.put("weight_tensors", Integer.toString(targets.size()));
    details.put("weight_values", Long.toString(values));
    details.put("values_changed", Long.toString(changed));
    details.put("values_saturated", Long.toString(saturated));
    details.put("values_flushed_to_zero", Long.toString(flushed));
    details.put("values_subnormal", Long.toString(subnormal));
    details.put("max_relative_change", String.format(Locale.ROOT, "%.3g", maxRelativeChange));
    if (mixed) {
      // Master weights must keep every update, however small: no rounding, no constraint.
      return new Compressed(model, details, List.of());
    }
    ModelProto out = model.toBuilder().setGraph(graph).build();
    return new Compressed(out, details, List.of(new RoundToFormat(weights.allNames(), format)));
  }

  private String computeReason16() {
    String what = "the train step casts the float32 weights and images to " + format.word() + ", runs the forward "
        + "and backward passes in " + format.word() + " (BatchNormalization in float32, as cuDNN does for half "
        + "inputs) and LogSoftmax and the loss in float32";
    if (device.startsWith("cuda:")) {
      return "device " + device + ": " + what;
    }
    return "device " + device + ", asked for by parameters.compute: " + what + "; but the " + CPU_KERNELS.get(format)
        + ", so most of the step runs in float32 between Casts and its time and energy are not those of 16-bit "
        + "arithmetic";
  }

  private String computeReason32() {
    if (compute.equals("fp32")) {
      return "asked for by parameters.compute: fp32 on device " + device + " (" + format.word()
          + "-rounded weights, float32 arithmetic)";
    }
    String alternative = format == ReducedFloat.FP16 ? "; compute: fp16 builds the float16 graph here anyway"
        : "; bf16 compute needs a cuda:N device";
    return "device " + device + ": " + CPU_KERNELS.get(format) + alternative;
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
