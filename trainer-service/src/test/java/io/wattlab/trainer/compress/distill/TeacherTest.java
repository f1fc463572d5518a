package io.wattlab.trainer.compress.distill;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.compress.CompressionException;
import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetSpec;
import io.wattlab.trainer.data.Datasets;
import io.wattlab.trainer.data.batch.Batch;
import io.wattlab.trainer.data.batch.BatchIterator;
import io.wattlab.trainer.data.batch.BatchLoader;
import io.wattlab.trainer.model.BuiltinModels;
import io.wattlab.trainer.model.ClassifierHead;
import io.wattlab.trainer.testing.TorchExports;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.ForwardModel;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The teacher's session: its logits, its cache across epochs, and the teachers it refuses. */
class TeacherTest {

  private static final int BATCH = 32;

  private static Dataset synthetic(int train) throws Exception {
    return Datasets.open(DatasetSpec.of("synthetic", null).with("classes", "10").with("size", "16")
        .with("train", Integer.toString(train)).with("test", "32").with("difficulty", "easy").with("seed", "3"));
  }

  @Test
  void aTeacherOfAnotherImageSizeOrClassCountIsRefusedNamingBothShapes() throws Exception {
    ForwardModel student = ForwardModel.prepare(TorchExports.model("tiny", 16, 10), BATCH);
    ModelProto wide = BuiltinModels.create("resnet-cifar", 10, 3, 32, 32, 1);
    CompressionException e = assertThrows(CompressionException.class,
        () -> Teacher.open(wide, "wide.onnx", student, 96, true, ExecutionConfig.cpu(1)));
    assertTrue(e.getMessage().contains("teacher wide.onnx takes images [N, 3, 32, 32] and gives logits [N, 10], but "
        + "the student takes [N, 3, 16, 16] and gives [N, 10]"), e.getMessage());

    ModelProto fiveClasses = ClassifierHead.replace(TorchExports.model("tiny", 16, 10), 5, 0);
    e = assertThrows(CompressionException.class,
        () -> Teacher.open(fiveClasses, "five.onnx", student, 96, true, ExecutionConfig.cpu(1)));
    assertTrue(e.getMessage().contains("takes images [N, 3, 16, 16] and gives logits [N, 5], but the student "
        + "takes [N, 3, 16, 16] and gives [N, 10]"), e.getMessage());
  }

  @Test
  void aMissingTeacherFileIsNamedAndNoPathMeansTheRunsModel() throws Exception {
    ModelProto run = TorchExports.model("tiny", 16, 10);
    assertEquals(run, Teacher.model("", run));
    Path missing = Path.of("target", "no-such-teacher.onnx");
    CompressionException e = assertThrows(CompressionException.class, () -> Teacher.model(missing.toString(), run));
    assertTrue(e.getMessage().contains("teacher file " + missing + " does not exist"), e.getMessage());
  }

  /**
   * Over two shuffled epochs, a caching teacher runs each image once and gives, batch by batch,
   * the logits a teacher that runs every batch gives; both are the model's own outputs in
   * inference mode (BatchNorm on running statistics), image by image in a plain session.
   */
  @Test
  void aCachingTeacherRunsEachImageOnceAndGivesTheSameLogits() throws Exception {
    Path file = TorchExports.file("tiny", 16, 10);
    ModelProto model = TorchExports.model("tiny", 16, 10);
    ForwardModel student = ForwardModel.prepare(model, BATCH);
    Dataset data = synthetic(96);
    BatchLoader loader = new BatchLoader(data.train(), BATCH, true, true, 9, r -> new Thread(r, "teacher test"));
    List<float[]> someImages = new ArrayList<>();
    List<float[]> someLogits = new ArrayList<>();
    try (Teacher cached = Teacher.open(model, "tiny", student, data.train().size(), true, ExecutionConfig.cpu(1));
        Teacher every = Teacher.open(model, "tiny", student, data.train().size(), false, ExecutionConfig.cpu(1))) {
      assertTrue(cached.caching());
      assertFalse(every.caching());
      for (int epoch = 0; epoch < 2; epoch++) {
        try (BatchIterator batches = loader.epoch(epoch)) {
          while (batches.hasNext()) {
            Batch b = batches.next();
            float[] fromCache = cached.logits(b);
            assertArrayEquals(every.logits(b), fromCache, "epoch " + epoch + ", batch " + b.index());
            someImages.add(Arrays.copyOfRange(b.images(), 0, 768));
            someLogits.add(Arrays.copyOfRange(fromCache, 0, 10));
          }
        }
        assertEquals(96, cached.imagesForwarded(), "every image once, in the first epoch");
        assertEquals(3, cached.runs());
        assertEquals(96 * (epoch + 1), every.imagesForwarded());
      }
      assertEquals(Map.of("teacher_logits_cached", "true", "teacher_images_forwarded", "96", "teacher_runs", "3"),
          cached.reportEntries());
    }
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession plain = env.createSession(file.toString())) {
      String input = plain.getInputNames().iterator().next();
      for (int i = 0; i < someImages.size(); i++) {
        try (OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(someImages.get(i)), new long[] {1, 3, 16, 16});
            OrtSession.Result r = plain.run(Map.of(input, x))) {
          float[] expected = ((float[][]) r.get(0).getValue())[0];
          for (int c = 0; c < 10; c++) {
            assertEquals(expected[c], someLogits.get(i)[c], 1e-5f, "image " + i + ", class " + c);
          }
        }
      }
    }
  }
}
