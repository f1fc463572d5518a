package io.wattlab.trainer.compress.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The radix select against a plain sort by (|w|, layer, position), on values made to collide. */
class MagnitudeSelectionTest {

  /** Three tensors of mixed scales, signs, repeated values, ±0 and subnormals. */
  private static LinkedHashMap<String, FloatBuffer> weights(long seed) {
    Random random = new Random(seed);
    LinkedHashMap<String, FloatBuffer> w = new LinkedHashMap<>();
    int[] sizes = {37, 500, 1203};
    for (int t = 0; t < sizes.length; t++) {
      float[] v = new float[sizes[t]];
      for (int i = 0; i < v.length; i++) {
        v[i] = switch (random.nextInt(6)) {
          case 0 -> 0.25f * (random.nextBoolean() ? 1 : -1);
          case 1 -> random.nextBoolean() ? 0f : -0f;
          case 2 -> Float.MIN_VALUE * random.nextInt(4);
          case 3 -> (float) random.nextGaussian() * 1e-3f;
          default -> (float) random.nextGaussian();
        };
      }
      w.put("t" + t, FloatBuffer.wrap(v));
    }
    return w;
  }

  private record Position(int layer, int index, float magnitude) {}

  private static List<Position> ranked(LinkedHashMap<String, FloatBuffer> weights) {
    List<Position> all = new ArrayList<>();
    int layer = 0;
    for (FloatBuffer b : weights.values()) {
      for (int i = 0; i < b.limit(); i++) {
        all.add(new Position(layer, i, Math.abs(b.get(i))));
      }
      layer++;
    }
    all.sort(Comparator.comparingDouble(Position::magnitude).thenComparingInt(Position::layer)
        .thenComparingInt(Position::index));
    return all;
  }

  @Test
  void globalSelectionEqualsTheFirstKOfAFullSort() {
    for (long seed = 0; seed < 20; seed++) {
      LinkedHashMap<String, FloatBuffer> w = weights(seed);
      List<Position> ranked = ranked(w);
      double sparsity = new Random(seed).nextDouble() * 0.99;
      long k = Math.round(sparsity * ranked.size());
      MagnitudeSelection.Result r = MagnitudeSelection.select(w, sparsity, PruneScope.GLOBAL, Map.of());
      List<String> names = List.copyOf(w.keySet());
      List<BitSet> expected = List.of(new BitSet(), new BitSet(), new BitSet());
      ranked.subList(0, (int) k).forEach(p -> expected.get(p.layer()).set(p.index()));
      for (int t = 0; t < names.size(); t++) {
        assertEquals(expected.get(t), r.pruned().get(names.get(t)), "seed " + seed + ", tensor " + t);
      }
      if (k > 0) {
        assertEquals(ranked.get((int) k - 1).magnitude(), r.thresholdMagnitude(), "seed " + seed);
      }
    }
  }

  @Test
  void layerSelectionRanksEachTensorAlone() {
    LinkedHashMap<String, FloatBuffer> w = weights(99);
    MagnitudeSelection.Result r = MagnitudeSelection.select(w, 0.4, PruneScope.LAYER, Map.of());
    for (var e : w.entrySet()) {
      LinkedHashMap<String, FloatBuffer> one = new LinkedHashMap<>(Map.of(e.getKey(), e.getValue()));
      BitSet expected = new BitSet();
      ranked(one).subList(0, (int) Math.round(0.4 * e.getValue().limit())).forEach(p -> expected.set(p.index()));
      assertEquals(expected, r.pruned().get(e.getKey()), e.getKey());
    }
  }

  @Test
  void positionsPrunedBeforeAreKeptWhateverTheirMagnitude() {
    LinkedHashMap<String, FloatBuffer> w = weights(7);
    FloatBuffer largest = w.get("t2");
    BitSet before = new BitSet();
    before.set(3);
    largest.put(3, 1e30f);
    MagnitudeSelection.Result r = MagnitudeSelection.select(w, 0.5, PruneScope.GLOBAL, Map.of("t2", before));
    assertTrue(r.pruned().get("t2").get(3));
    long total = r.pruned().values().stream().mapToLong(BitSet::cardinality).sum();
    assertEquals(Math.round(0.5 * (37 + 500 + 1203)), total, "the earlier mask counts toward k");
  }
}
