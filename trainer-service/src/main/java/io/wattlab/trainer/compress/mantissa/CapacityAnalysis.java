package io.wattlab.trainer.compress.mantissa;

import io.wattlab.trainer.data.Split;
import io.wattlab.trainer.execute.Evaluator;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.ForwardModel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.IntPredicate;
import java.util.function.IntToDoubleFunction;

/**
 * Measures a trained model's steganographic capacity in the sense of Stamp and co-authors: how
 * many low-order mantissa bits of every weight can be overwritten with arbitrary bits before
 * accuracy drops. For N = 0…23 the N low bits of every learned weight ({@link LearnedWeights}) are
 * replaced by seeded random bits and the model is evaluated on a split with the run's
 * {@link Evaluator} (one ONNX Runtime session; the overwritten weights are its inputs). The
 * capacity is the largest N such that accuracy at N and at every smaller N stays within the
 * tolerance of the unmodified model's.
 *
 * <p>Each weight gets one random 23-bit word, fixed by the seed and the tensor's name; overwriting N
 * bits uses its low N bits. So the model at N+1 differs from the one at N in one more bit of each
 * weight and nothing else, and a layer gets the same bits alone as in the whole model, which keeps
 * the curve from jumping between unrelated draws.
 *
 * <p>Per layer, only that layer's weights are overwritten, and the capacity is found by search
 * assuming accuracy does not rise with N: N = 23 first, then binary search over [0, 23), one to six
 * evaluations a layer instead of 24. A layer whose curve is not monotone may get a capacity above
 * its first drop.
 */
public final class CapacityAnalysis {

  /**
   * What to measure.
   *
   * @param tolerancePoints accuracy (top-1, in percentage points) a model may lose and still count
   *     as unharmed
   * @param perLayer also find each layer's capacity
   * @param seed fixes the random bits
   * @param batchSize images per evaluation batch
   * @param evalImages test images each accuracy is measured on: a fixed seeded sample of the split
   *     (the same images for every N), or all of it when 0 or more than it has
   * @param execution device and threads of the evaluation session
   */
  public record Settings(double tolerancePoints, boolean perLayer, long seed, int batchSize, int evalImages,
      ExecutionConfig execution) {

    public Settings {
      if (!(tolerancePoints >= 0 && tolerancePoints <= 100)) {
        throw new IllegalArgumentException("tolerance must be in [0, 100] percentage points, got " + tolerancePoints);
      }
      if (batchSize < 1) {
        throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
      }
      if (evalImages < 0) {
        throw new IllegalArgumentException("evaluation images must be 0 (all) or positive, got " + evalImages);
      }
    }
  }

  /** Top-1 accuracy (a fraction) with the N low mantissa bits overwritten. */
  public record Point(int bits, double top1) {}

  /**
   * One layer's capacity.
   *
   * @param layer the node's name
   * @param opType its op
   * @param values weight values it holds
   * @param capacityBits largest N found within tolerance
   * @param evaluated the points the search evaluated, in the order it did
   */
  public record LayerCapacity(String layer, String opType, long values, int capacityBits, List<Point> evaluated) {}

  /**
   * What the analysis found.
   *
   * @param settings what was asked for
   * @param baselineTop1 accuracy of the model as given
   * @param curve accuracy for N = 0…23, all weights overwritten
   * @param capacityBits the model's capacity
   * @param weightValues weight values overwritten at each N
   * @param testImages images each accuracy was measured on
   * @param layers per-layer capacities in graph order (empty unless asked for)
   * @param seconds wall time
   */
  public record Result(Settings settings, double baselineTop1, List<Point> curve, int capacityBits, long weightValues,
      int testImages, List<LayerCapacity> layers, double seconds) {

    /** Capacity over all weights, in bits: capacity × weight values (what could be hidden). */
    public long capacityTotalBits() {
      return (long) capacityBits * weightValues;
    }
  }

  private CapacityAnalysis() {}

  /**
   * Runs the analysis on a prepared model (batch size fixed to {@code settings.batchSize()}).
   *
   * @param classes the number of classes of the model's output and the split's labels
   */
  public static Result run(ForwardModel forward, Split split, int classes, Settings settings) {
    long start = System.nanoTime();
    Map<String, float[]> original = forward.initialState();
    LearnedWeights weights = LearnedWeights.of(forward.graph().toGraphProto());
    Map<String, int[]> words = randomWords(weights, original, settings.seed());
    long values = words.values().stream().mapToLong(w -> w.length).sum();
    try (Evaluator evaluator = new Evaluator(forward, settings.batchSize(), classes, settings.execution())) {
      double baseline = evaluator.evaluate(original, split, settings.evalImages()).top1();
      double threshold = baseline - settings.tolerancePoints() / 100 - 1e-12;
      List<Point> curve = new ArrayList<>();
      int capacity = -1;
      for (int bits = 0; bits <= MantissaBits.MANTISSA_BITS; bits++) {
        double top1 = evaluator.evaluate(overwritten(original, words, bits), split, settings.evalImages()).top1();
        curve.add(new Point(bits, top1));
        if (capacity == bits - 1 && top1 >= threshold) {
          capacity = bits;
        }
      }
      List<LayerCapacity> layers = new ArrayList<>();
      if (settings.perLayer()) {
        for (LearnedWeights.Layer layer : weights.layers()) {
          Map<String, int[]> mine = new LinkedHashMap<>();
          layer.tensors().stream().filter(words::containsKey).forEach(t -> mine.put(t, words.get(t)));
          layers.add(layerCapacity(layer, mine, original, evaluator, split, settings.evalImages(), threshold));
        }
      }
      int images = settings.evalImages() == 0 ? split.size() : Math.min(settings.evalImages(), split.size());
      return new Result(settings, baseline, List.copyOf(curve), Math.max(capacity, 0), values, images,
          List.copyOf(layers), (System.nanoTime() - start) / 1e9);
    }
  }

  private static LayerCapacity layerCapacity(LearnedWeights.Layer layer, Map<String, int[]> words,
      Map<String, float[]> original, Evaluator evaluator, Split split, int evalImages, double threshold) {
    List<Point> evaluated = new ArrayList<>();
    int capacity = search(bits -> evaluator.evaluate(overwritten(original, words, bits), split, evalImages).top1(), threshold,
        evaluated);
    long values = words.values().stream().mapToLong(w -> w.length).sum();
    return new LayerCapacity(layer.node(), layer.opType(), values, capacity, List.copyOf(evaluated));
  }

  /**
   * Largest N in [0, 23] whose accuracy is at least {@code threshold}, assuming accuracy does not
   * rise with N; N = 0 is the model itself and is not evaluated. N = 23 is tried first, since one
   * layer alone often survives even that (one evaluation); then binary search: six at most.
   */
  static int search(IntToDoubleFunction top1, double threshold, List<Point> evaluated) {
    IntPredicate within = bits -> {
      double t = top1.applyAsDouble(bits);
      evaluated.add(new Point(bits, t));
      return t >= threshold;
    };
    int good = 0;
    int bad = MantissaBits.MANTISSA_BITS;
    if (within.test(bad)) {
      return bad;
    }
    while (bad - good > 1) {
      int mid = (good + bad) >>> 1;
      if (within.test(mid)) {
        good = mid;
      } else {
        bad = mid;
      }
    }
    return good;
  }

  private static Map<String, int[]> randomWords(LearnedWeights weights, Map<String, float[]> state, long seed) {
    Map<String, int[]> words = new LinkedHashMap<>();
    for (String name : weights.tensors()) {
      float[] v = state.get(name);
      if (v == null) {
        continue; // not a float parameter the eval graph takes (cannot happen for a prepared model)
      }
      SplittableRandom random = new SplittableRandom(seed ^ (name.hashCode() * 0x9E3779B97F4A7C15L));
      int[] w = new int[v.length];
      for (int i = 0; i < w.length; i++) {
        w[i] = random.nextInt();
      }
      words.put(name, w);
    }
    return words;
  }

  /** A copy of the state with the low {@code bits} of the given tensors replaced by their words. */
  static Map<String, float[]> overwritten(Map<String, float[]> state, Map<String, int[]> words, int bits) {
    Map<String, float[]> out = new LinkedHashMap<>(state);
    words.forEach((name, w) -> {
      float[] v = state.get(name).clone();
      for (int i = 0; i < v.length; i++) {
        v[i] = MantissaBits.overwriteLow(v[i], bits, w[i]);
      }
      out.put(name, v);
    });
    return out;
  }
}
