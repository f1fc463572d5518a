/**
 * Steganographic capacity reduction: {@link io.wattlab.trainer.compress.mantissa.MantissaPass}
 * (technique {@code mantissa}) clears the low-order mantissa bits of every learned float32 weight
 * and keeps them clear through training; {@link io.wattlab.trainer.compress.mantissa.CapacityAnalysis}
 * measures how many of those bits a trained model can lose to random overwrites before its accuracy
 * drops (docs/compression/mantissa.md).
 */
package io.wattlab.trainer.compress.mantissa;
