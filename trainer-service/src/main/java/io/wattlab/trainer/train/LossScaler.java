package io.wattlab.trainer.train;

/**
 * The host side of dynamic loss scaling, the scheme of torch.cuda.amp.GradScaler: a step whose
 * gradients overflowed (the graph already left the state unchanged) halves the scale and restarts
 * the count of good steps; {@code growthInterval} good steps in a row double it. Counts the steps
 * and the skipped ones for the run's report.
 */
public final class LossScaler {
  static final double BACKOFF_FACTOR = 0.5;
  static final double GROWTH_FACTOR = 2;

  private final int growthInterval;
  private float scale;
  private int goodSteps;
  private long steps;
  private long skippedSteps;
  private boolean lastSkipped;

  public LossScaler(MixedPrecision settings) {
    this.scale = (float) settings.initialScale();
    this.growthInterval = settings.growthInterval();
  }

  /** The scale the next step multiplies its loss by. */
  public float scale() {
    return scale;
  }

  public long steps() {
    return steps;
  }

  /** Steps whose gradients were not all finite and were skipped. */
  public long skippedSteps() {
    return skippedSteps;
  }

  /** Whether the last step was skipped. */
  public boolean lastStepSkipped() {
    return lastSkipped;
  }

  /** A scale written out exactly (they are powers of two): 65536, 0.5, 1099511627776. */
  public static String text(double scale) {
    return new java.math.BigDecimal(scale).stripTrailingZeros().toPlainString();
  }

  /** Records one step's overflow flag and moves the scale. */
  void update(boolean overflow) {
    steps++;
    lastSkipped = overflow;
    if (overflow) {
      skippedSteps++;
      goodSteps = 0;
      // A scale that reached the smallest float32 would turn every gradient into 0/0; keep it positive.
      scale = Math.max(Float.MIN_VALUE, (float) (scale * BACKOFF_FACTOR));
      return;
    }
    if (++goodSteps == growthInterval) {
      goodSteps = 0;
      float grown = (float) (scale * GROWTH_FACTOR);
      // GradScaler keeps the old scale when growing would make it infinite.
      scale = Float.isFinite(grown) ? grown : scale;
    }
  }
}
