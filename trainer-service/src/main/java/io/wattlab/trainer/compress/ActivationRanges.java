package io.wattlab.trainer.compress;

import java.util.Map;
import java.util.TreeMap;

/**
 * The smallest and largest value each named activation tensor took over a calibration set, as a
 * {@link CalibratedPass} needs them: measured by running the model, handed to the pass as data.
 */
public record ActivationRanges(Map<String, Range> ranges, int images) {

  /** One tensor's observed range. */
  public record Range(float min, float max) {

    public Range {
      if (!(min <= max)) {
        throw new IllegalArgumentException("range [" + min + ", " + max + "] is empty or not a number");
      }
    }

    /** This range widened to cover another. */
    public Range union(Range other) {
      return new Range(Math.min(min, other.min), Math.max(max, other.max));
    }
  }

  public ActivationRanges {
    ranges = Map.copyOf(ranges);
  }

  /** No ranges: what a pass that calibrates nothing gets. */
  public static ActivationRanges none() {
    return new ActivationRanges(Map.of(), 0);
  }

  /**
   * The range of a tensor.
   *
   * @throws CompressionException when the calibration did not measure it
   */
  public Range of(String tensor) {
    Range r = ranges.get(tensor);
    if (r == null) {
      throw new CompressionException("tensor " + tensor + " has no calibrated range (measured: "
          + new TreeMap<>(ranges).keySet().stream().limit(8).toList() + (ranges.size() > 8 ? ", ..." : "") + ")");
    }
    return r;
  }
}
