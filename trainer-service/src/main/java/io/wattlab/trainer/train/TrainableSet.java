package io.wattlab.trainer.train;

import java.util.regex.Pattern;

/** Which parameters are trained; the gradients of the others are never built. */
public sealed interface TrainableSet permits TrainableSet.All, TrainableSet.LastLayers, TrainableSet.NamePattern {

  record All() implements TrainableSet {}

  /** The parameters of the last n parameterised nodes (Conv, Gemm, MatMul, BatchNormalization...). */
  record LastLayers(int n) implements TrainableSet {
    public LastLayers {
      if (n < 1) {
        throw new IllegalArgumentException("LastLayers needs n >= 1, got " + n);
      }
    }
  }

  /** Parameters whose initializer name matches the regular expression (find, not full match). */
  record NamePattern(Pattern pattern) implements TrainableSet {}

  static TrainableSet all() {
    return new All();
  }
}
