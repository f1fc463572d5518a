package io.wattlab.trainer.compress;

import ai.onnx.proto.OnnxMl.ModelProto;
import java.util.Set;

/**
 * A pass that needs the value ranges of some activations before it can rewrite a model (static
 * quantization). The pass stays pure: the executor asks which tensors to measure, runs the
 * uncompressed model on calibration images itself, and hands the ranges back with
 * {@link #calibrated}; the pass returned then rewrites as any other.
 */
public interface CalibratedPass extends CompressionPass {

  /** The activation tensors of {@code model} whose ranges {@link #calibrated} needs; empty for none. */
  Set<String> calibrationTensors(ModelProto model);

  /** How many training images the executor should run to measure the ranges. */
  int calibrationImages();

  /**
   * The share of each tensor's values, in percent, that its range must cover, the rest cut evenly
   * from both tails; 100 (the default) is the plain min to max.
   */
  default double calibrationPercentile() {
    return 100;
  }

  /** This pass with the measured ranges; its {@link #apply} uses them. */
  CompressionPass calibrated(ActivationRanges ranges);
}
