package io.wattlab.trainer.compress.distill;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.compress.Compressed;
import io.wattlab.trainer.compress.CompressionPass;
import io.wattlab.trainer.compress.InvalidCompressionException;
import io.wattlab.trainer.compress.PassReport;
import io.wattlab.trainer.compress.Techniques;
import io.wattlab.trainer.testing.TorchExports;
import java.nio.FloatBuffer;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Technique {@code distill}: its parameters, its nested student, and what it does to the model. */
class DistillationPassTest {

  @Test
  void defaultsAreTheRunsModelAsTeacherAlphaHalfTemperatureFourAndNoStudentCompression() {
    CompressionPass pass = Techniques.create("distill", Map.of());
    DistillationPass d = (DistillationPass) pass;
    assertEquals("", d.teacherPath());
    assertEquals(0.5, d.loss().alpha());
    assertEquals(4, d.loss().temperature());
    assertEquals("none", d.student().technique());
    assertEquals(Map.of("alpha", "0.5", "temperature", "4", "student.technique", "none"), pass.parameters().asMap());
    assertTrue(Techniques.names().contains("distill"), Techniques.names().toString());
  }

  @Test
  void givenValuesAreReadWithTheStudentsUnderItsPrefix() {
    DistillationPass d = (DistillationPass) Techniques.create("DISTILL", Map.of("teacher", "/models/big.onnx",
        "alpha", "0.2", "temperature", "2.5", "student.technique", "none"));
    assertEquals("/models/big.onnx", d.teacherPath());
    assertEquals(0.2, d.loss().alpha());
    assertEquals(2.5, d.loss().temperature());
    assertEquals("alpha=0.2,student.technique=none,teacher=/models/big.onnx,temperature=2.5",
        d.parameters().canonical());
  }

  @Test
  void badValuesAreRefusedNamingTheParameter() {
    assertRefused(Map.of("alpha", "1.5"), "parameters.alpha", "outside [0, 1]");
    assertRefused(Map.of("alpha", "much"), "parameters.alpha", "is not a number");
    assertRefused(Map.of("temperature", "0"), "parameters.temperature", "greater than 0");
    assertRefused(Map.of("temperature", "-1"), "parameters.temperature", "outside");
    assertRefused(Map.of("temprature", "2"), "parameters.temprature", "unknown parameter");
    assertRefused(Map.of("student.technique", "shrink"), "parameters.student.technique", "unknown technique 'shrink'");
    assertRefused(Map.of("student.technique", "distill"), "parameters.student.technique", "cannot itself be distilled");
    assertRefused(Map.of("student.technique", "quantize"), "parameters.student.technique",
        "a quantize student cannot be trained");
    // The student technique reads its own parameters; one it does not know is named with the prefix.
    assertRefused(Map.of("student.sparsity", "0.5"), "parameters.student.sparsity", "unknown parameter");
  }

  private static void assertRefused(Map<String, String> parameters, String field, String problem) {
    InvalidCompressionException e = assertThrows(InvalidCompressionException.class,
        () -> Techniques.create("distill", parameters));
    assertEquals(field, e.field(), e.getMessage());
    assertTrue(e.problem().contains(problem), e.getMessage());
  }

  /**
   * With student {@code none} the pass is an identity: the model is the input model, outputs
   * equal in a fresh session; the report carries the distillation's settings.
   */
  @Test
  void withTheStudentAsLoadedThePassIsAnIdentityAndSaysItsSettings() throws Exception {
    ModelProto model = TorchExports.model("tiny", 16, 10);
    CompressionPass pass = Techniques.create("distill", Map.of("alpha", "0.25", "temperature", "3"));
    PassReport.Outcome outcome = PassReport.run(pass, model);
    Compressed c = outcome.compressed();
    assertSame(model, c.model());
    assertTrue(c.constraints().isEmpty());
    Map<String, String> report = outcome.report().toMap();
    assertEquals("distill", report.get("technique"));
    assertEquals(DistillationPass.RUN_MODEL, report.get("teacher"));
    assertEquals("0.25", report.get("alpha"));
    assertEquals("3", report.get("temperature"));
    assertEquals("none", report.get("student_technique"));
    assertEquals(report.get("parameters_before"), report.get("parameters_after"));

    float[] images = new float[2 * 3 * 16 * 16];
    Random random = new Random(1);
    for (int i = 0; i < images.length; i++) {
      images[i] = (float) random.nextGaussian();
    }
    assertArrayEquals(run(model, images), run(c.model(), images));
  }

  private static float[] run(ModelProto model, float[] images) throws Exception {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    float[] all = new float[2 * 10];
    try (OrtSession s = env.createSession(model.toByteArray())) {
      String input = s.getInputNames().iterator().next();
      // The export has batch size 1: one image at a time.
      for (int i = 0; i < 2; i++) {
        float[] one = java.util.Arrays.copyOfRange(images, i * 768, (i + 1) * 768);
        try (OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(one), new long[] {1, 3, 16, 16});
            OrtSession.Result r = s.run(Map.of(input, x))) {
          float[][] out = (float[][]) r.get(0).getValue();
          assertEquals(10, out[0].length, "output shape kept");
          System.arraycopy(out[0], 0, all, i * 10, 10);
        }
      }
    }
    return all;
  }
}
