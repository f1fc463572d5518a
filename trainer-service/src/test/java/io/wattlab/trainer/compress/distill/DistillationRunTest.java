package io.wattlab.trainer.compress.distill;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micronaut.context.env.PropertySource;
import io.micronaut.context.env.PropertySourcePropertyResolver;
import io.wattlab.proto.v1.AugmentationSpec;
import io.wattlab.proto.v1.CompressionSpec;
import io.wattlab.proto.v1.DatasetSpec;
import io.wattlab.proto.v1.ModelSpec;
import io.wattlab.proto.v1.OptimizerSpec;
import io.wattlab.proto.v1.PhaseReport;
import io.wattlab.proto.v1.RunReport;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.trainer.execute.CarbonIntensities;
import io.wattlab.trainer.execute.ExecutorSettings;
import io.wattlab.trainer.execute.FileModelSource;
import io.wattlab.trainer.execute.ModelFactsProvider;
import io.wattlab.trainer.execute.TrainingRunExecutor;
import io.wattlab.trainer.metering.InProcessMeter;
import io.wattlab.trainer.model.BuiltinModels;
import io.wattlab.trainer.onnx.OnnxModels;
import io.wattlab.trainer.run.CancelSignal;
import io.wattlab.trainer.run.RunFailedException;
import io.wattlab.trainer.run.RunListener;
import io.wattlab.trainer.testing.TorchExports;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Distillation through the real run executor on the synthetic task: the acceptance
 * (a distilled student within 3 points of the uncompressed model's top-1), the teacher's logits
 * cached when the images are not augmented, and a teacher that does not fit refused before
 * training.
 */
class DistillationRunTest {

  /** How the student is compressed: half of its weights pruned by magnitude. */
  private static final Map<String, String> STUDENT = Map.of("student.technique", "prune", "student.sparsity", "0.5");

  /** Training images: 60 full batches of 32, so every epoch visits each image exactly once. */
  private static final int TRAIN_IMAGES = 1920;

  private static InProcessMeter meter;
  private static TrainingRunExecutor executor;
  private static Path model;

  @BeforeAll
  static void start() throws Exception {
    Path runs = Files.createTempDirectory(Files.createDirectories(Path.of("target", "runs")), "distill-");
    meter = InProcessMeter.start(new PropertySourcePropertyResolver(PropertySource.of("test", Map.of())));
    executor = new TrainingRunExecutor(ExecutorSettings.defaults().withRunsDirectory(runs), meter,
        new FileModelSource(), CarbonIntensities.none(), ModelFactsProvider.fromInitializers());
    model = TorchExports.file("tiny", 16, 10);
  }

  @AfterAll
  static void stop() {
    if (meter != null) {
      meter.close();
    }
  }

  /**
   * A small CNN on the hard synthetic set (10 classes of 3×16×16 images), where a few epochs
   * leave it far from perfect (about 64% top-1 after five), so that the comparison can tell.
   */
  private static RunSpec.Builder syntheticRun(int epochs) {
    return syntheticRun(model, epochs);
  }

  private static RunSpec.Builder syntheticRun(Path start, int epochs) {
    return RunSpec.newBuilder()
        .setModel(ModelSpec.newBuilder().setOnnxPath(start.toString()))
        .setDataset(DatasetSpec.newBuilder().setFormat("synthetic").putAllOptions(Map.of("classes", "10", "size", "16",
            "train", Integer.toString(TRAIN_IMAGES), "test", "400", "difficulty", "hard")))
        .setEpochs(epochs)
        .setBatchSize(32)
        .setLearningRate(0.003)
        .setOptimizer(OptimizerSpec.newBuilder().setName("sgd").setMomentum(0.9))
        .setSeed(7)
        .setIdleSeconds(0);
  }

  private static RunSpec distilled(RunSpec.Builder run, Map<String, String> parameters) {
    Map<String, String> all = new HashMap<>(STUDENT);
    all.putAll(parameters);
    return run.setCompression(CompressionSpec.newBuilder().setTechnique("distill").putAllParameters(all)).build();
  }

  /**
   * As the research compares them: a pre-trained model is fine-tuned as it is, and, with the same
   * seed and settings, pruned to half its weights and fine-tuned as a student distilled from the
   * uncompressed pre-trained model; the student's top-1 is within 3 points. The images are not
   * augmented, so the teacher ran on each training image once.
   */
  @Test
  void aDistilledStudentReachesTheUncompressedModelsTop1AndTheTeacherRanOncePerImage() throws Exception {
    Path pretrained = Path.of(executor.execute("pretrain", syntheticRun(5).build(), RunListener.NONE, new CancelSignal())
        .getTrainedModelPath());
    String teacher = pretrained.toString();
    RunReport baseline = executor.execute("baseline", syntheticRun(pretrained, 3).build(), RunListener.NONE,
        new CancelSignal());
    RunReport student = executor.execute("distilled", distilled(syntheticRun(pretrained, 3),
        Map.of("teacher", teacher, "alpha", "0.5", "temperature", "4")), RunListener.NONE, new CancelSignal());

    assertTrue(baseline.getTop1() > 0.5, "the baseline learned the task: top-1 " + baseline.getTop1());
    assertTrue(student.getTop1() >= baseline.getTop1() - 0.03,
        "distilled top-1 " + student.getTop1() + ", uncompressed " + baseline.getTop1());
    assertEquals("0.5000", student.getCompressionMap().get("sparsity_achieved"), student.getCompressionMap().toString());

    Map<String, String> c = student.getCompressionMap();
    assertEquals("distill", c.get("technique"));
    assertEquals(teacher, c.get("teacher"));
    assertEquals("0.5", c.get("alpha"));
    assertEquals("4", c.get("temperature"));
    assertEquals(STUDENT.get("student.technique"), c.get("student_technique"));
    assertEquals("true", c.get("teacher_logits_cached"));
    assertEquals(Integer.toString(TRAIN_IMAGES), c.get("teacher_images_forwarded"), c.toString());
    assertEquals(Integer.toString(TRAIN_IMAGES / 32), c.get("teacher_runs"), "all in the first epoch: " + c);
  }

  /** With augmentation every epoch's images differ, so the teacher runs on every batch. */
  @Test
  void withAugmentationTheTeacherRunsOnEveryBatch() throws Exception {
    RunReport report = executor.execute("distilled-augmented", distilled(syntheticRun(2)
        .setAugmentation(AugmentationSpec.newBuilder().setHorizontalFlip(true)), Map.of()), RunListener.NONE,
        new CancelSignal());
    Map<String, String> c = report.getCompressionMap();
    assertEquals(DistillationPass.RUN_MODEL, c.get("teacher"));
    assertEquals("false", c.get("teacher_logits_cached"));
    assertEquals(Integer.toString(2 * TRAIN_IMAGES), c.get("teacher_images_forwarded"), c.toString());
    assertEquals(2, report.getEpochsCount());
    assertTrue(report.getEpochs(1).getTrainLoss() < report.getEpochs(0).getTrainLoss(), report.getEpochsList().toString());
  }

  @Test
  void aTeacherForAnotherImageSizeIsRefusedBeforeTraining() throws Exception {
    Path wide = Files.createTempFile(Path.of("target"), "teacher-32px-", ".onnx");
    OnnxModels.write(BuiltinModels.create("resnet-cifar", 10, 3, 32, 32, 1), wide);
    RunFailedException e = assertThrows(RunFailedException.class, () -> executor.execute("distilled-misfit",
        distilled(syntheticRun(1), Map.of("teacher", wide.toString())), RunListener.NONE, new CancelSignal()));
    assertTrue(e.getMessage().startsWith("compress: distill: teacher " + wide + " takes images [N, 3, 32, 32] and "
        + "gives logits [N, 10], but the student takes [N, 3, 16, 16] and gives [N, 10]"), e.getMessage());
    assertEquals(java.util.List.of("load", "compress"),
        e.partialReport().getPhasesList().stream().map(PhaseReport::getPhase).toList());
  }

}
