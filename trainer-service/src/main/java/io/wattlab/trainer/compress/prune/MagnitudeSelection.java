package io.wattlab.trainer.compress.prune;

import java.nio.FloatBuffer;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Chooses the weights magnitude pruning zeroes: the k of smallest |w|, ties at the threshold broken
 * by layer order, then by position in the tensor (lowest first), so that exactly k are chosen and
 * the same weights every time.
 */
final class MagnitudeSelection {

  /**
   * @param pruned the chosen positions of each tensor, in the order given
   * @param thresholdMagnitude the largest |w| newly chosen (NaN when nothing was)
   */
  record Result(Map<String, BitSet> pruned, float thresholdMagnitude) {}

  private MagnitudeSelection() {}

  /** How many of {@code n} weights a sparsity prunes: the nearest whole number. */
  static long count(long n, double sparsity) {
    return Math.round(sparsity * n);
  }

  /**
   * Chooses weights in tensors given in layer order (each buffer read from 0 to its limit).
   * Layer scope: round(s·n) in each tensor; global: round(s·N) over all of them. The positions in
   * {@code already} (a tensor's earlier mask; may be empty) are chosen first, whatever their
   * magnitude, so that a mask recomputed at a higher sparsity never drops a pruned weight.
   */
  static Result select(LinkedHashMap<String, FloatBuffer> weights, double sparsity, PruneScope scope,
      Map<String, BitSet> already) {
    if (scope == PruneScope.GLOBAL) {
      long total = weights.values().stream().mapToLong(FloatBuffer::limit).sum();
      return smallest(weights, count(total, sparsity), already);
    }
    Map<String, BitSet> pruned = new LinkedHashMap<>();
    float threshold = Float.NaN;
    for (var e : weights.entrySet()) {
      LinkedHashMap<String, FloatBuffer> one = new LinkedHashMap<>();
      one.put(e.getKey(), e.getValue());
      Result r = smallest(one, count(e.getValue().limit(), sparsity), already);
      pruned.putAll(r.pruned());
      if (!(threshold >= r.thresholdMagnitude())) {
        threshold = r.thresholdMagnitude();
      }
    }
    return new Result(pruned, threshold);
  }

  /** |w| as an int that orders like the magnitude (non-negative IEEE floats order like their bits). */
  private static int key(float v) {
    return Float.floatToRawIntBits(v) & 0x7fffffff;
  }

  /**
   * The k smallest by a two-pass radix select on the magnitude's bits (high 15, then low 16), so
   * that no copy or sort of the weights is needed: VGG16's 138 M weights are ranked in place.
   */
  private static Result smallest(LinkedHashMap<String, FloatBuffer> weights, long k, Map<String, BitSet> already) {
    Map<String, BitSet> pruned = new LinkedHashMap<>();
    for (String name : weights.keySet()) {
      BitSet before = already.get(name);
      BitSet chosen = before == null ? new BitSet() : (BitSet) before.clone();
      k -= chosen.cardinality();
      pruned.put(name, chosen);
    }
    if (k <= 0) {
      return new Result(pruned, Float.NaN);
    }
    long[] high = new long[1 << 15];
    for (var e : weights.entrySet()) {
      FloatBuffer b = e.getValue();
      BitSet skip = pruned.get(e.getKey());
      for (int i = 0, n = b.limit(); i < n; i++) {
        if (!skip.get(i)) {
          high[key(b.get(i)) >>> 16]++;
        }
      }
    }
    long below = 0;
    int h = 0;
    while (below + high[h] < k) {
      below += high[h++];
    }
    long[] low = new long[1 << 16];
    for (var e : weights.entrySet()) {
      FloatBuffer b = e.getValue();
      BitSet skip = pruned.get(e.getKey());
      for (int i = 0, n = b.limit(); i < n; i++) {
        int key = key(b.get(i));
        if (key >>> 16 == h && !skip.get(i)) {
          low[key & 0xffff]++;
        }
      }
    }
    int l = 0;
    while (below + low[l] < k) {
      below += low[l++];
    }
    int threshold = (h << 16) | l;
    long ties = k - below;
    for (var e : weights.entrySet()) {
      FloatBuffer b = e.getValue();
      BitSet chosen = pruned.get(e.getKey());
      BitSet skip = (BitSet) chosen.clone();
      for (int i = 0, n = b.limit(); i < n; i++) {
        if (skip.get(i)) {
          continue;
        }
        int key = key(b.get(i));
        if (key < threshold) {
          chosen.set(i);
        } else if (key == threshold && ties > 0) {
          chosen.set(i);
          ties--;
        }
      }
    }
    return new Result(pruned, Float.intBitsToFloat(threshold));
  }
}
