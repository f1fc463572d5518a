package io.wattlab.trainer.train;

import io.wattlab.trainer.onnx.Tensors;

/**
 * A train step that computes in a 16-bit type with float32 master weights, as PyTorch's automatic
 * mixed precision does: parameters and images are cast to {@code elemType} where the forward pass
 * uses them, the forward and backward passes run in it, the logits are cast back to float32 for
 * the loss; the loss is multiplied by a scale before the backward pass and the float32 gradients
 * divided by it, and a step whose gradients are not all finite changes no parameter and no
 * optimizer state. The scale is dynamic ({@link LossScaler}): {@code initialScale} at first, halved
 * after every skipped step, doubled after {@code growthInterval} steps in a row without one.
 */
public record MixedPrecision(int elemType, double initialScale, int growthInterval) {

  /** torch.cuda.amp.GradScaler's defaults: init_scale 2^16, growth_interval 2000. */
  public static final double DEFAULT_INITIAL_SCALE = 65536;
  public static final int DEFAULT_GROWTH_INTERVAL = 2000;

  public MixedPrecision {
    if (elemType != Tensors.FLOAT16 && elemType != Tensors.BFLOAT16) {
      throw new IllegalArgumentException("mixed precision computes in float16 or bfloat16, not ONNX type " + elemType);
    }
    if (!(initialScale > 0 && initialScale <= Float.MAX_VALUE)) {
      throw new IllegalArgumentException("the initial loss scale must be a positive float32, got " + initialScale);
    }
    if (growthInterval < 1) {
      throw new IllegalArgumentException("the loss scale's growth interval must be >= 1, got " + growthInterval);
    }
  }

  /** float16 compute with GradScaler's default scaling. */
  public static MixedPrecision fp16() {
    return new MixedPrecision(Tensors.FLOAT16, DEFAULT_INITIAL_SCALE, DEFAULT_GROWTH_INTERVAL);
  }

  /** The same compute type with another initial scale. */
  public MixedPrecision withInitialScale(double scale) {
    return new MixedPrecision(elemType, scale, growthInterval);
  }

  /** The same compute type with another growth interval. */
  public MixedPrecision withGrowthInterval(int steps) {
    return new MixedPrecision(elemType, initialScale, steps);
  }

  /** {@code fp16} or {@code bf16}. */
  public String word() {
    return elemType == Tensors.FLOAT16 ? "fp16" : "bf16";
  }
}
