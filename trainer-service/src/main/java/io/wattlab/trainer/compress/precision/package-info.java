/**
 * Technique {@code precision}: weights rounded to float16 or bfloat16 and kept so through training
 * ({@link io.wattlab.trainer.compress.precision.PrecisionPass}); the formats' rounding is
 * {@link io.wattlab.trainer.onnx.ReducedFloat} (docs/compression/precision.md).
 */
package io.wattlab.trainer.compress.precision;
