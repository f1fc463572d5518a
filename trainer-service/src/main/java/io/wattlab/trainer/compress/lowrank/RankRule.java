package io.wattlab.trainer.compress.lowrank;

import io.wattlab.trainer.compress.PassParameters;

/** How the pass picks each layer's rank: a fixed share of min(m, n), or a share of Σσ² to keep. */
sealed interface RankRule {

  /** r = ⌈ratio · min(m, n)⌉. */
  record Ratio(double ratio) implements RankRule {}

  /** The smallest r whose leading singular values hold {@code fraction} of Σσ². */
  record Energy(double fraction) implements RankRule {}

  /**
   * Reads {@code rank_ratio} (default 0.5) or {@code energy}, both in (0, 1]; exactly one of them
   * is used, so a spec naming both is refused rather than one silently winning.
   */
  static RankRule read(PassParameters p) {
    if (p.isSet("rank_ratio") && p.isSet("energy")) {
      throw PassParameters.invalid("energy", "rank_ratio and energy are both given; a layer's rank comes from one"
          + " of them, so give rank_ratio or energy");
    }
    if (p.isSet("energy")) {
      return new Energy(positive(p, "energy", 0));
    }
    return new Ratio(positive(p, "rank_ratio", 0.5));
  }

  private static double positive(PassParameters p, String key, double fallback) {
    double v = p.number(key, fallback, 0, 1);
    if (v == 0) {
      throw PassParameters.invalid(key, "0 is outside (0, 1]: a rank of zero would delete the layer");
    }
    return v;
  }
}
