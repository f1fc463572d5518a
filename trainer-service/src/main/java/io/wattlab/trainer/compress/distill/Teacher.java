package io.wattlab.trainer.compress.distill;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.compress.CompressionException;
import io.wattlab.trainer.data.batch.Batch;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.ShapeInference;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.OnnxFormatException;
import io.wattlab.trainer.onnx.OnnxModels;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.ForwardModel;
import io.wattlab.trainer.train.Sessions;
import io.wattlab.trainer.train.TrainingException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The teacher of a distillation run: its own ONNX Runtime session on the inference graph
 * (BatchNorm on running statistics, weights fixed), giving the logits of each training batch.
 * When the training images are not augmented, an image looks the same every epoch, so its
 * logits are computed the first time it comes and kept for the rest of the run.
 */
public final class Teacher implements AutoCloseable {

  private final String name;
  private final OrtSession session;
  private final String input;
  private final String logits;
  private final int batchSize;
  private final int classes;
  private final int imageLength;
  private final FloatBuffer imageBuf;
  private final OnnxTensor images;
  private final float[] cache;
  private final BitSet cached;
  private long imagesForwarded;
  private long runs;

  private Teacher(String name, OrtSession session, String input, String logits, int batchSize, int classes,
      int imageLength, FloatBuffer imageBuf, OnnxTensor images, int trainImages, boolean cache) {
    this.name = name;
    this.session = session;
    this.input = input;
    this.logits = logits;
    this.batchSize = batchSize;
    this.classes = classes;
    this.imageLength = imageLength;
    this.imageBuf = imageBuf;
    this.images = images;
    this.cache = cache ? new float[Math.multiplyExact(trainImages, classes)] : null;
    this.cached = cache ? new BitSet(trainImages) : null;
  }

  /**
   * The teacher model a pass names: the file at {@code path}, or {@code runModel} when the path
   * is empty.
   *
   * @throws CompressionException when the file is missing or is not an ONNX model
   */
  public static ModelProto model(String path, ModelProto runModel) {
    if (path.isEmpty()) {
      return runModel;
    }
    Path file = Path.of(path);
    if (!Files.isRegularFile(file)) {
      throw new CompressionException("teacher file " + file + " does not exist");
    }
    try {
      return OnnxModels.read(file);
    } catch (UncheckedIOException | OnnxFormatException e) {
      throw new CompressionException("teacher file " + file + " is not an ONNX model: " + e.getMessage(), e);
    }
  }

  /**
   * Opens a teacher for a student, refusing one whose image input or class count differs.
   *
   * @param name the teacher's name in messages (its file, or the run's model)
   * @param student the student as it trains (its batch size is the teacher's)
   * @param trainImages images in the training split (the cache's size)
   * @param cache keep each image's logits after its first forward pass (only when not augmented)
   * @throws CompressionException naming both shapes when the teacher does not fit the student
   */
  public static Teacher open(ModelProto teacherModel, String name, ForwardModel student, int trainImages,
      boolean cache, ExecutionConfig execution) {
    long[] studentIn = student.graph().inputs().get(student.input()).dims();
    int batch = (int) studentIn[0];
    ForwardModel teacher;
    try {
      teacher = ForwardModel.prepare(teacherModel, batch);
    } catch (TrainingException e) {
      throw new CompressionException("teacher " + name + ": " + e.getMessage(), e);
    }
    long[] teacherIn = teacher.graph().inputs().get(teacher.input()).dims();
    long[] studentOut = ShapeInference.run(student.graph()).dims(student.logits());
    long[] teacherOut = ShapeInference.run(teacher.graph()).dims(teacher.logits());
    boolean fits = Arrays.equals(teacherIn, studentIn) && teacherOut.length == 2 && studentOut.length == 2
        && teacherOut[1] == studentOut[1];
    if (!fits) {
      throw new CompressionException("teacher " + name + " takes images " + shape(teacherIn) + " and gives logits "
          + shape(teacherOut) + ", but the student takes " + shape(studentIn) + " and gives " + shape(studentOut)
          + ": the teacher must take the student's images and give its classes");
    }
    int imageLength = (int) (Tensors.numel(studentIn) / batch);
    // The inference graph as prepared (BatchNorm on running statistics), its output declared at
    // the fixed batch size rather than the export's (often 1), which ONNX Runtime warns about.
    Graph g = teacher.copyOfGraph();
    g.outputs().put(teacher.logits(), new TensorType(Tensors.FLOAT, teacherOut));
    OrtSession session = Sessions.open(g.toModel(), execution);
    try {
      FloatBuffer buf = ByteBuffer.allocateDirect(batch * imageLength * 4).order(ByteOrder.nativeOrder())
          .asFloatBuffer();
      OnnxTensor images = OnnxTensor.createTensor(OrtEnvironment.getEnvironment(), buf, teacherIn);
      return new Teacher(name, session, teacher.input(), teacher.logits(), batch, (int) studentOut[1], imageLength,
          buf, images, trainImages, cache);
    } catch (OrtException e) {
      closeQuietly(session);
      throw new TrainingException("teacher " + name + ": cannot allocate its input: " + e.getMessage());
    }
  }

  /** [N, C, H, W] with the batch written as N. */
  private static String shape(long[] dims) {
    StringBuilder s = new StringBuilder("[");
    for (int i = 0; i < dims.length; i++) {
      s.append(i == 0 ? "N" : ", " + dims[i]);
    }
    return s.append(']').toString();
  }

  /**
   * The teacher's logits for a batch's images, [batch size, classes] row by row; rows past a
   * short batch are zero. Only images whose logits are not kept yet go through the teacher.
   */
  public float[] logits(Batch batch) {
    int count = batch.size();
    if (count > batchSize) {
      throw new TrainingException("teacher " + name + ": a batch of " + count + " images is larger than its "
          + batchSize);
    }
    float[] out = new float[batchSize * classes];
    if (cache == null) {
      forward(batch, allOf(count), out);
      return out;
    }
    int[] missing = new int[count];
    int m = 0;
    for (int i = 0; i < count; i++) {
      if (!cached.get(batch.indices()[i])) {
        missing[m++] = i;
      }
    }
    if (m > 0) {
      float[] fresh = new float[batchSize * classes];
      forward(batch, Arrays.copyOf(missing, m), fresh);
      for (int k = 0; k < m; k++) {
        int image = batch.indices()[missing[k]];
        System.arraycopy(fresh, k * classes, cache, image * classes, classes);
        cached.set(image);
      }
    }
    for (int i = 0; i < count; i++) {
      System.arraycopy(cache, batch.indices()[i] * classes, out, i * classes, classes);
    }
    return out;
  }

  private static int[] allOf(int count) {
    int[] all = new int[count];
    Arrays.setAll(all, i -> i);
    return all;
  }

  /** Runs the teacher on the batch's images at {@code positions}; their logits go to {@code out}'s first rows. */
  private void forward(Batch batch, int[] positions, float[] out) {
    for (int k = 0; k < positions.length; k++) {
      imageBuf.put(k * imageLength, batch.images(), positions[k] * imageLength, imageLength);
    }
    for (int k = positions.length * imageLength; k < batchSize * imageLength; k++) {
      imageBuf.put(k, 0f);
    }
    try (OrtSession.Result r = session.run(Map.of(input, images), Set.of(logits))) {
      FloatBuffer values = ((OnnxTensor) r.get(0)).getFloatBuffer();
      values.get(out, 0, positions.length * classes);
    } catch (OrtException e) {
      throw new TrainingException("teacher " + name + " failed on a batch: " + e.getMessage());
    }
    imagesForwarded += positions.length;
    runs++;
  }

  /** Images the teacher has run on so far (each once when caching). */
  public long imagesForwarded() {
    return imagesForwarded;
  }

  /** Session runs so far. */
  public long runs() {
    return runs;
  }

  /** Whether logits are kept per image. */
  public boolean caching() {
    return cache != null;
  }

  /** Entries for the report's compression map: whether logits were cached and the teacher's work. */
  public Map<String, String> reportEntries() {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("teacher_logits_cached", Boolean.toString(caching()));
    m.put("teacher_images_forwarded", Long.toString(imagesForwarded));
    m.put("teacher_runs", Long.toString(runs));
    return m;
  }

  @Override
  public void close() {
    images.close();
    closeQuietly(session);
  }

  private static void closeQuietly(OrtSession session) {
    try {
      session.close();
    } catch (OrtException e) {
      // Closing frees native memory only; nothing to report to the run.
    }
  }
}
