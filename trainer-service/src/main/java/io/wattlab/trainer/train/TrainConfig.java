package io.wattlab.trainer.train;

/**
 * How a train-step graph is built: batch size (fixed per graph), loss label smoothing,
 * optimizer, trainable set, gradient clipping by global norm (0 = off), whether the graph also
 * outputs every parameter gradient (for checks), knowledge distillation (null: the plain
 * cross-entropy loss) and mixed precision (null: float32 compute).
 */
public record TrainConfig(int batchSize, double labelSmoothing, Optimizer optimizer, TrainableSet trainable,
    double clipGradNorm, boolean outputGradients, Distillation distillation, MixedPrecision mixedPrecision) {

  /**
   * Knowledge distillation's loss, α·CE + (1−α)·T²·KL(softmax(teacher/T) ‖ softmax(student/T)),
   * with the teacher's logits as an extra graph input (Hinton, Vinyals and Dean 2015).
   */
  public record Distillation(double alpha, double temperature) {

    public Distillation {
      if (!(alpha >= 0 && alpha <= 1)) {
        throw new IllegalArgumentException("distillation alpha must be in [0, 1], got " + alpha);
      }
      if (!(temperature > 0) || Double.isInfinite(temperature)) {
        throw new IllegalArgumentException("distillation temperature must be > 0, got " + temperature);
      }
    }
  }

  /** Float32 compute. */
  public TrainConfig(int batchSize, double labelSmoothing, Optimizer optimizer, TrainableSet trainable,
      double clipGradNorm, boolean outputGradients, Distillation distillation) {
    this(batchSize, labelSmoothing, optimizer, trainable, clipGradNorm, outputGradients, distillation, null);
  }

  /** Without distillation, float32 compute. */
  public TrainConfig(int batchSize, double labelSmoothing, Optimizer optimizer, TrainableSet trainable,
      double clipGradNorm, boolean outputGradients) {
    this(batchSize, labelSmoothing, optimizer, trainable, clipGradNorm, outputGradients, null, null);
  }

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
    return new TrainConfig(batchSize, labelSmoothing, optimizer, trainable, clipGradNorm, on, distillation,
        mixedPrecision);
  }

  public TrainConfig withOptimizer(Optimizer o) {
    return new TrainConfig(batchSize, labelSmoothing, o, trainable, clipGradNorm, outputGradients, distillation,
        mixedPrecision);
  }

  public TrainConfig withTrainable(TrainableSet t) {
    return new TrainConfig(batchSize, labelSmoothing, optimizer, t, clipGradNorm, outputGradients, distillation,
        mixedPrecision);
  }

  public TrainConfig withClipGradNorm(double maxNorm) {
    return new TrainConfig(batchSize, labelSmoothing, optimizer, trainable, maxNorm, outputGradients, distillation,
        mixedPrecision);
  }

  public TrainConfig withLabelSmoothing(double s) {
    return new TrainConfig(batchSize, s, optimizer, trainable, clipGradNorm, outputGradients, distillation,
        mixedPrecision);
  }

  /** The same graph with the distillation loss (null: plain cross-entropy). */
  public TrainConfig withDistillation(Distillation d) {
    return new TrainConfig(batchSize, labelSmoothing, optimizer, trainable, clipGradNorm, outputGradients, d,
        mixedPrecision);
  }

  /** The same graph computing in 16 bits with float32 master weights (null: float32 compute). */
  public TrainConfig withMixedPrecision(MixedPrecision m) {
    return new TrainConfig(batchSize, labelSmoothing, optimizer, trainable, clipGradNorm, outputGradients, distillation,
        m);
  }
}
