/**
 * Technique {@code prune}: unstructured magnitude pruning ({@link io.wattlab.trainer.compress.prune.MagnitudePruning})
 * and the mask that keeps pruned weights zero through training
 * ({@link io.wattlab.trainer.compress.prune.PruningMask}); see docs/compression/prune.md.
 */
package io.wattlab.trainer.compress.prune;
