package io.wattlab.trainer.compress.prune;

/**
 * When the target sparsity is reached: at once by the pass, or over the training epochs following
 * Zhu &amp; Gupta (2017), s_t = s_f·(1 − (1 − t/n)³), with a pruning step at the start of each epoch.
 */
public enum SparsitySchedule {
  ONESHOT,
  GRADUAL;

  /**
   * The sparsity epoch {@code epoch} (1-based, of {@code epochs}) trains at. Gradual: t = epoch − 1
   * over n = epochs − 1 steps, so the first epoch trains dense (the paper's s_i = 0 at t_0) and the
   * last one at the final sparsity; a single epoch trains at the final sparsity.
   */
  public double sparsity(double finalSparsity, int epoch, int epochs) {
    if (this == ONESHOT || epochs <= 1) {
      return finalSparsity;
    }
    double progress = Math.min(1, Math.max(0, (epoch - 1) / (double) (epochs - 1)));
    double remaining = 1 - progress;
    return finalSparsity * (1 - remaining * remaining * remaining);
  }

  /** The sparsity the pass itself prunes to: the final one, or the first epoch's (0) when gradual. */
  public double atPass(double finalSparsity) {
    return this == ONESHOT ? finalSparsity : 0;
  }
}
