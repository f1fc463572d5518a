package io.wattlab.trainer.compress.mantissa;

import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetSpec;
import io.wattlab.trainer.data.Datasets;
import io.wattlab.trainer.model.Pretrainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A resnet-cifar trained for 2 epochs on 4 easy synthetic classes of 3×16×16 (512 training, 128
 * test images, seed 11): a trained built-in model for capacity tests, written once under target/.
 */
public final class TrainedSynthetic {

  public static final Pretrainer.Config TASK = new Pretrainer.Config("resnet-cifar", 4, 3, 16, 16, 512, 128, "easy",
      2, 32, 0.05, 11, 2);

  /** The synthetic options of {@link #TASK}, as a run spec's dataset section gives them. */
  public static final Map<String, String> DATASET_OPTIONS = Map.of("classes", "4", "size", "16x16", "channels", "3",
      "train", "512", "test", "128", "difficulty", "easy", "seed", "11");

  private static Pretrainer.Report report;

  private TrainedSynthetic() {}

  /** Trains the model (once per test JVM) and returns what pretraining reported. */
  public static synchronized Pretrainer.Report report() throws Exception {
    if (report == null) {
      Path checkpoint = Files.createDirectories(Path.of("target", "capacity-test")).resolve("resnet-cifar.onnx");
      report = Pretrainer.run(TASK, checkpoint);
    }
    return report;
  }

  /** The task's dataset, opened as a run opens it. */
  public static Dataset dataset() throws Exception {
    return Datasets.open(new DatasetSpec("synthetic", null, DATASET_OPTIONS));
  }
}
