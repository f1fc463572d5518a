package io.wattlab.trainer.compress.prune;

/** Over which weights one magnitude ranking is made. */
public enum PruneScope {
  /** Each prunable tensor is ranked on its own and reaches the sparsity by itself. */
  LAYER,
  /** All prunable tensors are ranked together: one magnitude threshold, layers end up unequal. */
  GLOBAL
}
