package io.wattlab.trainer.compress.prune;

import io.wattlab.trainer.train.ParameterConstraint;
import java.nio.FloatBuffer;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The pruned positions of each weight tensor, held at zero through training. Gradual pruning
 * re-ranks the current weights at the start of each epoch and zeroes up to that epoch's sparsity;
 * the weights pruned before are zero then, hence smallest, so the mask only ever grows.
 */
public final class PruningMask implements ParameterConstraint {

  private final Map<String, Integer> sizes;
  private final PruneScope scope;
  private final SparsitySchedule schedule;
  private final double finalSparsity;
  private final Map<String, BitSet> pruned;
  private double sparsity;

  /**
   * @param sizes element count of each prunable tensor, in layer order (the tie-break order)
   * @param pruned the positions the pass zeroed
   * @param sparsity the sparsity the pass pruned to
   */
  PruningMask(LinkedHashMap<String, Integer> sizes, PruneScope scope, SparsitySchedule schedule,
      double finalSparsity, Map<String, BitSet> pruned, double sparsity) {
    this.sizes = new LinkedHashMap<>(sizes);
    this.scope = scope;
    this.schedule = schedule;
    this.finalSparsity = finalSparsity;
    this.pruned = new LinkedHashMap<>();
    sizes.keySet().forEach(name -> this.pruned.put(name, (BitSet) pruned.getOrDefault(name, new BitSet()).clone()));
    this.sparsity = sparsity;
  }

  @Override
  public Set<String> parameters() {
    return new LinkedHashSet<>(sizes.keySet());
  }

  @Override
  public void enforce(String parameter, FloatBuffer values) {
    BitSet b = pruned.get(parameter);
    if (b == null) {
      return;
    }
    for (int i = b.nextSetBit(0); i >= 0; i = b.nextSetBit(i + 1)) {
      values.put(i, 0f);
    }
  }

  /**
   * Gradual: re-ranks the weights handed over (the trained ones; frozen ones keep their mask) and
   * prunes them to this epoch's sparsity. One-shot: nothing changes.
   */
  @Override
  public void beginEpoch(int epoch, int epochs, Map<String, FloatBuffer> values) {
    if (schedule == SparsitySchedule.ONESHOT) {
      return;
    }
    double target = schedule.sparsity(finalSparsity, epoch, epochs);
    LinkedHashMap<String, FloatBuffer> trained = new LinkedHashMap<>();
    sizes.forEach((name, size) -> {
      FloatBuffer v = values.get(name);
      if (v != null) {
        trained.put(name, v.slice(0, size));
      }
    });
    pruned.putAll(MagnitudeSelection.select(trained, target, scope, pruned).pruned());
    sparsity = target;
  }

  /** The sparsity the mask was last set to (the pass's, or the current epoch's when gradual). */
  public double sparsity() {
    return sparsity;
  }

  /** The pruned positions of one tensor (a copy; empty for a tensor it does not know). */
  public BitSet pruned(String parameter) {
    BitSet b = pruned.get(parameter);
    return b == null ? new BitSet() : (BitSet) b.clone();
  }

  /** The tensors it covers, in layer order. */
  public List<String> layers() {
    return List.copyOf(sizes.keySet());
  }
}
