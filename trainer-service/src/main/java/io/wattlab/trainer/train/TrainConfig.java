package io.wattlab.trainer.train;

/**
 * How a train-step graph is built: batch size (fixed per graph), loss label smoothing,
 * optimizer, trainable set, gradient clipping by global norm (0 = off), and whether the
 * graph also outputs every parameter gradient (for checks).
 */
public record TrainConfig(int batchSize, double labelSmoothing, Optimizer optimizer, TrainableSet trainable,
    double clipGradNorm, boolean outputGradients) {

  public TrainConfig {
    if (batchSize < 1) {
      throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
    }
    if (labelSmoothing < 0 || labelSmoothing >= 1) {
      throw new IllegalArgumentException("labelSmoothing must be in [0, 1), got " + labelSmoothing);
    }
  }

  public static TrainConfig sgd(int batchSize, double momentum) {
    return new TrainConfig(batchSize, 0, new Optimizer.Sgd(momentum, false, 0), TrainableSet.all(), 0, false);
  }

  public TrainConfig withOutputGradients(boolean on) {
    return new TrainConfig(batchSize, labelSmoothing, optimizer, trainable, clipGradNorm, on);
  }

  public TrainConfig withOptimizer(Optimizer o) {
    return new TrainConfig(batchSize, labelSmoothing, o, trainable, clipGradNorm, outputGradients);
  }

  public TrainConfig withTrainable(TrainableSet t) {
    return new TrainConfig(batchSize, labelSmoothing, optimizer, t, clipGradNorm, outputGradients);
  }

  public TrainConfig withClipGradNorm(double maxNorm) {
    return new TrainConfig(batchSize, labelSmoothing, optimizer, trainable, maxNorm, outputGradients);
  }

  public TrainConfig withLabelSmoothing(double s) {
    return new TrainConfig(batchSize, s, optimizer, trainable, clipGradNorm, outputGradients);
  }
}
