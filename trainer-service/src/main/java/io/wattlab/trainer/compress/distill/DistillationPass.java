package io.wattlab.trainer.compress.distill;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.wattlab.trainer.compress.CalibratedPass;
import io.wattlab.trainer.compress.Compressed;
import io.wattlab.trainer.compress.CompressionPass;
import io.wattlab.trainer.compress.InferenceOnlyPass;
import io.wattlab.trainer.compress.InvalidCompressionException;
import io.wattlab.trainer.compress.PassParameters;
import io.wattlab.trainer.compress.Techniques;
import io.wattlab.trainer.train.TrainConfig;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Technique {@code distill}: the student is the run's model compressed by another technique
 * (parameters {@code student.technique}, {@code student.KEY}); this pass applies that technique
 * and carries its report and constraints over. The teacher and the loss's α and T are for the
 * run to act on: it opens the teacher ({@link Teacher}) and trains with
 * {@link TrainConfig.Distillation}. The pass itself never reads the teacher's file.
 */
public final class DistillationPass implements CompressionPass {

  /** The technique's name. */
  public static final String TECHNIQUE = "distill";
  /** Prefix of the student technique's parameters. */
  public static final String STUDENT = "student.";
  /** What {@code teacher} says in the report when none was given. */
  public static final String RUN_MODEL = "run model (uncompressed)";

  private final PassParameters parameters;
  private final String teacherPath;
  private final TrainConfig.Distillation loss;
  private final CompressionPass student;

  public DistillationPass(PassParameters p) {
    this.parameters = p;
    this.teacherPath = p.text("teacher", "");
    double alpha = p.number("alpha", 0.5, 0, 1);
    double temperature = p.number("temperature", 4, 0, 1000);
    if (temperature <= 0) {
      throw PassParameters.invalid("temperature", "must be greater than 0");
    }
    this.loss = new TrainConfig.Distillation(alpha, temperature);
    PassParameters inner = p.nested(STUDENT);
    String technique = inner.text("technique", Techniques.NONE).toLowerCase(Locale.ROOT);
    if (technique.equals(TECHNIQUE)) {
      throw PassParameters.invalid(STUDENT + "technique", "a student cannot itself be distilled; name the "
          + "technique that compresses the student (" + String.join(", ", Techniques.names()) + ")");
    }
    try {
      this.student = Techniques.create(technique, inner);
    } catch (InvalidCompressionException e) {
      String field = e.field().startsWith("parameters.") ? e.field().substring("parameters.".length()) : e.field();
      throw PassParameters.invalid(STUDENT + field, e.problem());
    }
    if (student instanceof InferenceOnlyPass || student instanceof CalibratedPass) {
      // A quantized student neither trains nor gets its calibration here: distilling it means nothing.
      throw PassParameters.invalid(STUDENT + "technique", "a " + technique + " student cannot be trained; "
          + "distil first, then run " + technique + " on the trained model");
    }
    p.adopt(STUDENT, inner);
  }

  private DistillationPass(PassParameters parameters, String teacherPath, TrainConfig.Distillation loss,
      CompressionPass student) {
    this.parameters = parameters;
    this.teacherPath = teacherPath;
    this.loss = loss;
    this.student = student;
  }

  /** The student's technique decides on the device (a precision student's compute). */
  @Override
  public CompressionPass on(String device) {
    CompressionPass placed;
    try {
      placed = student.on(device);
    } catch (InvalidCompressionException e) {
      String field = e.field().startsWith("parameters.") ? e.field().substring("parameters.".length()) : e.field();
      throw PassParameters.invalid(STUDENT + field, e.problem());
    }
    return placed == student ? this : new DistillationPass(parameters, teacherPath, loss, placed);
  }

  @Override
  public String technique() {
    return TECHNIQUE;
  }

  @Override
  public PassParameters parameters() {
    return parameters;
  }

  /** The teacher's ONNX file, or empty for the run's own model as loaded (uncompressed). */
  public String teacherPath() {
    return teacherPath;
  }

  /** α and T of the training loss. */
  public TrainConfig.Distillation loss() {
    return loss;
  }

  /** The pass that makes the student. */
  public CompressionPass student() {
    return student;
  }

  /** The student technique's result, with the distillation's settings added to its details. */
  @Override
  public Compressed apply(ModelProto model) {
    Compressed s = student.apply(model);
    Map<String, String> details = new LinkedHashMap<>();
    details.put("teacher", teacherPath.isEmpty() ? RUN_MODEL : teacherPath);
    details.put("alpha", parameters.asMap().get("alpha"));
    details.put("temperature", parameters.asMap().get("temperature"));
    details.put("student_technique", student.technique());
    s.details().forEach(details::putIfAbsent);
    return new Compressed(s.model(), details, s.constraints());
  }
}
