package io.wattlab.trainer.compress.quantize;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.wattlab.trainer.compress.ActivationRanges;
import io.wattlab.trainer.compress.CalibratedPass;
import io.wattlab.trainer.compress.Compressed;
import io.wattlab.trainer.compress.CompressionException;
import io.wattlab.trainer.compress.CompressionPass;
import io.wattlab.trainer.compress.InferenceOnlyPass;
import io.wattlab.trainer.compress.PassParameters;
import io.wattlab.trainer.compress.quantize.Quantization.ActivationType;
import io.wattlab.trainer.graph.Graph;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Technique {@code quantize}: int8 weights and arithmetic for inference. {@code static} folds
 * BatchNorm into Conv and writes the QDQ format with activation scales from calibrated ranges
 * (which the executor measures and hands over, see {@link CalibratedPass}); {@code dynamic}
 * quantizes Gemm/MatMul weights and the activations at run time. The result runs in ONNX Runtime
 * but is not trained, so a run with it is evaluate-only ({@link InferenceOnlyPass}).
 */
public final class QuantizePass implements CalibratedPass, InferenceOnlyPass {

  public static final String TECHNIQUE = "quantize";
  public static final String STATIC = "static";
  public static final String DYNAMIC = "dynamic";

  /** Keys that mean something in static mode only. */
  private static final String[] STATIC_ONLY = {"calibration_images", "activation_type", "calibration", "percentile"};

  private final PassParameters parameters;
  private final String mode;
  private final boolean perChannel;
  private final boolean reduceRange;
  private final int calibrationImages;
  private final int evaluationPasses;
  private final double percentile;
  private final ActivationType activationType;
  private final ActivationRanges ranges;

  public QuantizePass(PassParameters p) {
    this.parameters = p;
    this.mode = p.choice("mode", STATIC, DYNAMIC);
    this.perChannel = p.flag("per_channel", true);
    this.reduceRange = p.flag("reduce_range", true);
    this.evaluationPasses = p.integer("evaluation_passes", 1, 1, 10_000);
    if (mode.equals(STATIC)) {
      this.calibrationImages = p.integer("calibration_images", 256, 1, 1_000_000);
      // int8 activations are not offered: with them ONNX Runtime 1.29 fused only 9 of resnet-cifar's 21
      // Convs into QLinearConv on an AVX2 CPU, which would time a half-float model as "int8".
      this.activationType = ActivationType.valueOf(p.choice("activation_type", "uint8").toUpperCase(Locale.ROOT));
      boolean percentile = p.choice("calibration", "minmax", "percentile").equals("percentile");
      if (!percentile && p.isSet("percentile")) {
        throw PassParameters.invalid("percentile", "applies to calibration percentile only");
      }
      this.percentile = percentile ? p.number("percentile", 99.99, 90, 100) : 100;
    } else {
      for (String key : STATIC_ONLY) {
        if (p.isSet(key)) {
          throw PassParameters.invalid(key, "applies to mode static only (dynamic quantizes activations at run time)");
        }
      }
      this.calibrationImages = 0;
      this.percentile = 100;
      this.activationType = ActivationType.UINT8;
    }
    this.ranges = null;
  }

  private QuantizePass(QuantizePass base, ActivationRanges ranges) {
    this.parameters = base.parameters;
    this.mode = base.mode;
    this.perChannel = base.perChannel;
    this.reduceRange = base.reduceRange;
    this.evaluationPasses = base.evaluationPasses;
    this.percentile = base.percentile;
    this.calibrationImages = base.calibrationImages;
    this.activationType = base.activationType;
    this.ranges = ranges;
  }

  @Override
  public String technique() {
    return TECHNIQUE;
  }

  @Override
  public PassParameters parameters() {
    return parameters;
  }

  @Override
  public String variant() {
    return "int8";
  }

  @Override
  public int evaluationPasses() {
    return evaluationPasses;
  }

  @Override
  public Set<String> calibrationTensors(ModelProto model) {
    if (!mode.equals(STATIC)) {
      return Set.of();
    }
    Graph g = Graph.fromModel(model);
    requireOpset13(g);
    BatchNormFolding.fold(g);
    return new LinkedHashSet<>(StaticQdq.plan(g).activations());
  }

  @Override
  public int calibrationImages() {
    return calibrationImages;
  }

  @Override
  public double calibrationPercentile() {
    return percentile;
  }

  @Override
  public CompressionPass calibrated(ActivationRanges measured) {
    return new QuantizePass(this, measured);
  }

  /**
   * @throws CompressionException when static mode has no ranges yet, when the model has no
   *     quantizable layer, or (static) when its opset is below 13
   */
  @Override
  public Compressed apply(ModelProto model) {
    Graph g = Graph.fromModel(model);
    Map<String, String> details = new LinkedHashMap<>();
    details.put("mode", mode);
    details.put("weights", "int8 symmetric " + (perChannel ? "per output channel" : "per tensor")
        + (reduceRange ? ", 7-bit range" : ""));
    int weightMax = reduceRange ? Quantization.REDUCED_WEIGHT_MAX : Quantization.WEIGHT_MAX;
    if (mode.equals(DYNAMIC)) {
      DynamicInt8.Result r = DynamicInt8.rewrite(g, perChannel, weightMax);
      if (r.gemm() + r.matmul() == 0) {
        throw nothingToQuantize(model, "Gemm or MatMul", r.skipped());
      }
      details.put("activations", "uint8, quantized at run time (DynamicQuantizeLinear)");
      details.put("quantized_gemm", Integer.toString(r.gemm()));
      details.put("quantized_matmul", Integer.toString(r.matmul()));
      putSkipped(details, r.skipped());
    } else {
      if (ranges == null) {
        throw new CompressionException("mode static needs calibrated activation ranges; the run's executor measures "
            + "them (CalibratedPass.calibrationTensors) and passes them with calibrated(ranges)");
      }
      requireOpset13(g);
      int folded = BatchNormFolding.fold(g);
      StaticQdq.Plan plan = StaticQdq.plan(g);
      if (plan.targets().isEmpty()) {
        throw nothingToQuantize(model, "Conv, Gemm or MatMul", plan.skipped());
      }
      int pairs = StaticQdq.rewrite(g, plan, ranges, perChannel, activationType, weightMax);
      details.put("activations", activationType.name().toLowerCase(Locale.ROOT) + " affine, "
          + (percentile < 100 ? percentile + "% range" : "min/max") + " of " + ranges.images() + " calibration images");
      details.put("folded_batchnorm", Integer.toString(folded));
      for (String op : new String[] {"Conv", "Gemm", "MatMul"}) {
        long count = plan.targets().stream().filter(t -> t.node().opType().equals(op)).count();
        details.put("quantized_" + op.toLowerCase(Locale.ROOT), Long.toString(count));
      }
      details.put("quantized_activations", Integer.toString(pairs));
      putSkipped(details, plan.skipped());
    }
    details.put("evaluate_only", "true");
    return Compressed.of(g.toModel().toBuilder().setDocString(model.getDocString()).build(), details);
  }

  /** Checked before calibrating, so that a model the rewrite would refuse is not run first. */
  private static void requireOpset13(Graph g) {
    if (g.opset() < 13) {
      throw new CompressionException("model opset " + g.opset() + ": per-axis QuantizeLinear/DequantizeLinear need "
          + "opset 13 or later; re-export the model at opset 13+");
    }
  }

  private static CompressionException nothingToQuantize(ModelProto model, String ops, Map<String, String> skipped) {
    return new CompressionException("model " + model.getGraph().getName() + " has no " + ops
        + " with a constant weight to quantize" + (skipped.isEmpty() ? "" : " (left in float: " + skipped + ")"));
  }

  private static void putSkipped(Map<String, String> details, Map<String, String> skipped) {
    details.put("left_in_float", Integer.toString(skipped.size()));
    if (!skipped.isEmpty()) {
      StringBuilder s = new StringBuilder();
      skipped.entrySet().stream().limit(5).forEach(e -> s.append(s.isEmpty() ? "" : "; ").append(e.getKey())
          .append(" (").append(e.getValue()).append(')'));
      details.put("left_in_float_layers", s + (skipped.size() > 5 ? "; ..." : ""));
    }
  }
}
