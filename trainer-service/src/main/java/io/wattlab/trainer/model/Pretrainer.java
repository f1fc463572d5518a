package io.wattlab.trainer.model;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetException;
import io.wattlab.trainer.data.DatasetSpec;
import io.wattlab.trainer.data.Datasets;
import io.wattlab.trainer.data.Split;
import io.wattlab.trainer.data.batch.Batch;
import io.wattlab.trainer.data.batch.BatchIterator;
import io.wattlab.trainer.data.batch.BatchLoader;
import io.wattlab.trainer.onnx.OnnxModels;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.ForwardModel;
import io.wattlab.trainer.train.ModelExport;
import io.wattlab.trainer.train.Optimizer;
import io.wattlab.trainer.train.Sessions;
import io.wattlab.trainer.train.TrainConfig;
import io.wattlab.trainer.train.TrainStepBuilder;
import io.wattlab.trainer.train.Trainer;
import io.wattlab.trainer.train.TrainingException;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ThreadFactory;

/**
 * Pre-trains a built-in model on a seeded synthetic source task with the training engine and
 * writes the result as an inference ONNX checkpoint, so that a demo fine-tunes a pre-trained
 * model instead of a random one. Images are fed as the dataset gives them, scaled to [0, 1] with
 * no normalisation; a fine-tuning run should do the same.
 */
public final class Pretrainer {

  /**
   * What to pre-train and on what.
   *
   * @param model a {@link BuiltinModels} name
   * @param sourceClasses classes of the synthetic source task
   * @param channels image channels
   * @param height image height
   * @param width image width
   * @param trainImages synthetic training images
   * @param testImages synthetic test images
   * @param difficulty {@code easy}, {@code medium} or {@code hard} (the synthetic generator's)
   * @param epochs passes over the training images
   * @param batchSize images per step (the last incomplete batch of an epoch is left out)
   * @param learningRate SGD learning rate, constant
   * @param seed fixes the data, the initial weights and the batch order
   * @param intraOpThreads ONNX Runtime threads, 0 for its default
   */
  public record Config(String model, int sourceClasses, int channels, int height, int width, int trainImages,
      int testImages, String difficulty, int epochs, int batchSize, double learningRate, long seed,
      int intraOpThreads) {

    public Config {
      if (!BuiltinModels.names().contains(model)) {
        throw new IllegalArgumentException("unknown built-in model '" + model + "' (known: "
            + String.join(", ", BuiltinModels.names()) + ")");
      }
      if (epochs < 1 || batchSize < 1 || trainImages < batchSize) {
        throw new IllegalArgumentException("pretraining needs epochs >= 1 and at least one full batch of training "
            + "images; got epochs=" + epochs + ", batchSize=" + batchSize + ", trainImages=" + trainImages);
      }
      if (!(learningRate > 0)) {
        throw new IllegalArgumentException("learningRate must be positive, got " + learningRate);
      }
    }

    /** resnet-cifar on 3×32×32 images of 10 easy synthetic classes (seed 1000), 3 epochs of 2,000 images. */
    public static Config defaults(String model) {
      return new Config(model, 10, 3, 32, 32, 2000, 400, "easy", 3, 32, 0.05, 1000, 0);
    }
  }

  /**
   * What pretraining did.
   *
   * @param model the built-in model's name
   * @param epochs epochs run
   * @param finalLoss mean training loss of the last epoch
   * @param top1 accuracy of the written checkpoint on the source task's test split
   * @param testImages images top-1 was measured on
   * @param seconds wall time of training and evaluation
   * @param checkpoint where the inference model was written
   */
  public record Report(String model, int epochs, double finalLoss, double top1, int testImages, double seconds,
      Path checkpoint) {}

  private Pretrainer() {}

  /**
   * Pre-trains and writes the checkpoint to {@code checkpoint}.
   *
   * @throws DatasetException when the synthetic options are rejected (the message names the option)
   * @throws TrainingException when training fails or the loss becomes NaN (the message names the epoch)
   */
  public static Report run(Config config, Path checkpoint) throws DatasetException {
    long started = System.nanoTime();
    Dataset data = sourceTask(config);
    Trained trained = train(config, data);
    ModelProto model = trained.inferenceModel().toBuilder().setDocString("wattlab pretrain: " + config).build();
    OnnxModels.write(model, checkpoint);
    double top1 = top1(model, data.test(), config.batchSize(), config.intraOpThreads());
    return new Report(config.model(), config.epochs(), trained.lastEpochLoss(), top1, data.test().size(),
        (System.nanoTime() - started) / 1e9, checkpoint);
  }

  /** The synthetic source task a config names. */
  static Dataset sourceTask(Config config) throws DatasetException {
    return Datasets.open(new DatasetSpec("synthetic", null, Map.of(
        "classes", Integer.toString(config.sourceClasses()),
        "size", config.height() + "x" + config.width(),
        "channels", Integer.toString(config.channels()),
        "train", Integer.toString(config.trainImages()),
        "test", Integer.toString(config.testImages()),
        "difficulty", config.difficulty(),
        "seed", Long.toString(config.seed()))));
  }

  /** The prepared model, its state after training, and the last epoch's mean loss. */
  record Trained(ForwardModel forward, Map<String, float[]> state, double lastEpochLoss) {
    ModelProto inferenceModel() {
      return ModelExport.trainedModel(forward, state);
    }
  }

  static Trained train(Config config, Dataset data) {
    ModelProto initial = BuiltinModels.create(config.model(), config.sourceClasses(), config.channels(),
        config.height(), config.width(), config.seed());
    ForwardModel forward = ForwardModel.prepare(initial, config.batchSize());
    TrainConfig trainConfig = TrainConfig.sgd(config.batchSize(), 0.9)
        .withOptimizer(new Optimizer.Sgd(0.9, false, 5e-4));
    // The train graph's batch size is fixed, so a smaller last batch is dropped.
    BatchLoader loader = new BatchLoader(data.train(), config.batchSize(), true, true, config.seed(),
        daemonThreads("pretrain " + config.model()));
    double lastEpochLoss = Double.NaN;
    try (Trainer trainer = new Trainer(TrainStepBuilder.build(forward, trainConfig),
        new ExecutionConfig("cpu", config.intraOpThreads()))) {
      for (int epoch = 0; epoch < config.epochs(); epoch++) {
        double sum = 0;
        int steps = 0;
        try (BatchIterator batches = loader.epoch(epoch)) {
          while (batches.hasNext()) {
            Batch batch = batches.next();
            float loss = trainer.step(batch.images(), batch.labels(), (float) config.learningRate());
            if (!Float.isFinite(loss)) {
              throw new TrainingException("pretraining " + config.model() + ": loss became " + loss + " at epoch "
                  + (epoch + 1) + ", step " + (steps + 1) + "; lower the learning rate (" + config.learningRate() + ")");
            }
            sum += loss;
            steps++;
          }
        }
        lastEpochLoss = sum / steps;
      }
      return new Trained(forward, trainer.state(), lastEpochLoss);
    }
  }

  /** Top-1 accuracy of an inference model on a split, batch by batch, on the CPU. */
  public static double top1(ModelProto model, Split split, int batchSize, int intraOpThreads) {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    BatchLoader loader = BatchLoader.evaluation(split, batchSize);
    String input = model.getGraph().getInput(0).getName();
    long correct = 0;
    try (OrtSession session = Sessions.open(model, new ExecutionConfig("cpu", intraOpThreads));
         BatchIterator batches = loader.epoch(0)) {
      while (batches.hasNext()) {
        Batch batch = batches.next();
        try (OnnxTensor images = OnnxTensor.createTensor(env, FloatBuffer.wrap(batch.images()),
            batch.imagesTensorShape());
             OrtSession.Result result = session.run(Map.of(input, images))) {
          float[][] logits = (float[][]) result.get(0).getValue();
          for (int i = 0; i < logits.length; i++) {
            if (argmax(logits[i]) == batch.labels()[i]) {
              correct++;
            }
          }
        }
      }
    } catch (OrtException e) {
      throw new TrainingException("evaluating " + model.getGraph().getName() + " on " + split.name() + " failed: "
          + e.getMessage());
    }
    return (double) correct / split.size();
  }

  static int argmax(float[] values) {
    int best = 0;
    for (int i = 1; i < values.length; i++) {
      if (values[i] > values[best]) {
        best = i;
      }
    }
    return best;
  }

  private static ThreadFactory daemonThreads(String name) {
    return runnable -> {
      Thread thread = new Thread(runnable, "batch-prefetch " + name);
      thread.setDaemon(true);
      return thread;
    };
  }
}
