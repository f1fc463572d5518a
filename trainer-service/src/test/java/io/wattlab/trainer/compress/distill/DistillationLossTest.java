package io.wattlab.trainer.compress.distill;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.testing.TorchExports;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.ForwardModel;
import io.wattlab.trainer.train.KStepGraph;
import io.wattlab.trainer.train.TrainConfig;
import io.wattlab.trainer.train.TrainStepBuilder;
import io.wattlab.trainer.train.Trainer;
import io.wattlab.trainer.train.TrainingException;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The distillation loss of the train-step graph, α·CE + (1−α)·T²·KL(softmax(t/T) ‖ softmax(s/T)),
 * against the formula computed in Java in double precision, and its gradient against the
 * closed form (itself checked by finite differences of the formula).
 */
class DistillationLossTest {

  private static final int BATCH = 4;
  private static final int CLASSES = 5;

  /**
   * A model whose logits are a parameter: logits = x + w, w [batch, classes]. Fed x = 0, the
   * student's logits are w, and the gradient of w is the gradient of the loss by the logits.
   */
  private static ForwardModel logitsAsParameter(float[] studentLogits) {
    Graph g = new Graph(17);
    long[] dims = {BATCH, CLASSES};
    g.addInput("x", new TensorType(Tensors.FLOAT, dims));
    g.addInitializer(Tensors.floats("w", dims, studentLogits));
    g.addNode(new Node("add", "Add", "", List.of("x", "w"), List.of("logits"), Map.of()));
    g.outputs().put("logits", new TensorType(Tensors.FLOAT, dims));
    return ForwardModel.prepare(g.toModel(), BATCH);
  }

  private static double[] softmax(float[] logits, int row, double temperature) {
    double max = Double.NEGATIVE_INFINITY;
    for (int c = 0; c < CLASSES; c++) {
      max = Math.max(max, logits[row * CLASSES + c] / temperature);
    }
    double sum = 0;
    double[] p = new double[CLASSES];
    for (int c = 0; c < CLASSES; c++) {
      p[c] = Math.exp(logits[row * CLASSES + c] / temperature - max);
      sum += p[c];
    }
    for (int c = 0; c < CLASSES; c++) {
      p[c] /= sum;
    }
    return p;
  }

  /** The formula in double: α·mean(−log q1[y]) + (1−α)·T²·mean(Σ p·(log p − log qT)). */
  static double loss(float[] student, float[] teacher, long[] labels, double alpha, double t) {
    double ce = 0;
    double kl = 0;
    for (int b = 0; b < BATCH; b++) {
      ce -= Math.log(softmax(student, b, 1)[(int) labels[b]]);
      double[] p = softmax(teacher, b, t);
      double[] q = softmax(student, b, t);
      for (int c = 0; c < CLASSES; c++) {
        kl += p[c] * (Math.log(p[c]) - Math.log(q[c]));
      }
    }
    return alpha * ce / BATCH + (1 - alpha) * t * t * kl / BATCH;
  }

  /** ∂loss/∂s = α·(softmax(s) − onehot(y))/B + (1−α)·T·(softmax(s/T) − softmax(t/T))/B. */
  static double[] closedFormGradient(float[] student, float[] teacher, long[] labels, double alpha, double t) {
    double[] g = new double[BATCH * CLASSES];
    for (int b = 0; b < BATCH; b++) {
      double[] s1 = softmax(student, b, 1);
      double[] p = softmax(teacher, b, t);
      double[] q = softmax(student, b, t);
      for (int c = 0; c < CLASSES; c++) {
        double hard = s1[c] - (c == labels[b] ? 1 : 0);
        g[b * CLASSES + c] = (alpha * hard + (1 - alpha) * t * (q[c] - p[c])) / BATCH;
      }
    }
    return g;
  }

  private static float[] gaussian(Random random, int n, double scale) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (random.nextGaussian() * scale);
    }
    return v;
  }

  @Test
  void theGraphsLossAndGradientAreTheFormulasForSeveralAlphasAndTemperatures() {
    Random random = new Random(11);
    float[] student = gaussian(random, BATCH * CLASSES, 2);
    float[] teacher = gaussian(random, BATCH * CLASSES, 3);
    long[] labels = {0, 3, 4, 1};
    double[][] settings = {{0.5, 4}, {0.1, 1}, {0, 2.5}, {1, 4}, {0.7, 20}};
    for (double[] s : settings) {
      double alpha = s[0];
      double t = s[1];
      TrainConfig config = TrainConfig.sgd(BATCH, 0).withOutputGradients(true)
          .withDistillation(new TrainConfig.Distillation(alpha, t));
      double expected = loss(student, teacher, labels, alpha, t);
      double[] expectedGrad = closedFormGradient(student, teacher, labels, alpha, t);
      try (Trainer trainer = new Trainer(TrainStepBuilder.build(logitsAsParameter(student), config),
          ExecutionConfig.cpu(1))) {
        float got = trainer.step(new float[BATCH * CLASSES], labels, teacher, 0f);
        String where = "alpha " + alpha + ", T " + t;
        assertEquals(expected, got, 2e-6 * Math.max(1, Math.abs(expected)), where);
        float[] grad = trainer.gradient("w");
        for (int i = 0; i < grad.length; i++) {
          assertEquals(expectedGrad[i], grad[i], 1e-6 * Math.max(1, t), where + ", logit " + i);
        }
      }
    }
  }

  @Test
  void theClosedFormIsTheFormulasDerivative() {
    Random random = new Random(5);
    float[] student = gaussian(random, BATCH * CLASSES, 2);
    float[] teacher = gaussian(random, BATCH * CLASSES, 3);
    long[] labels = {2, 2, 0, 4};
    double alpha = 0.3;
    double t = 3;
    double[] closed = closedFormGradient(student, teacher, labels, alpha, t);
    // Steps that are exact in float (powers of two) so that s ± h is what the formula sees.
    float h = 1f / 1024;
    for (int i = 0; i < student.length; i++) {
      float[] up = student.clone();
      float[] down = student.clone();
      up[i] += h;
      down[i] -= h;
      double fd = (loss(up, teacher, labels, alpha, t) - loss(down, teacher, labels, alpha, t))
          / ((double) up[i] - down[i]);
      assertEquals(closed[i], fd, 1e-6, "logit " + i);
    }
  }

  @Test
  void theSoftTermIsZeroWhenTheStudentIsTheTeacher() {
    Random random = new Random(3);
    float[] logits = gaussian(random, BATCH * CLASSES, 2);
    TrainConfig config = TrainConfig.sgd(BATCH, 0).withOutputGradients(true)
        .withDistillation(new TrainConfig.Distillation(0, 4));
    try (Trainer trainer = new Trainer(TrainStepBuilder.build(logitsAsParameter(logits), config),
        ExecutionConfig.cpu(1))) {
      float got = trainer.step(new float[BATCH * CLASSES], new long[BATCH], logits, 0f);
      assertEquals(0, got, 1e-6);
      for (float g : trainer.gradient("w")) {
        assertEquals(0, g, 1e-7);
      }
    }
  }

  @Test
  void aDistillingGraphWantsTeacherLogitsAndAPlainOneOrAKStepLoopRefusesThem() {
    float[] logits = new float[BATCH * CLASSES];
    TrainConfig plain = TrainConfig.sgd(BATCH, 0);
    try (Trainer distilling = new Trainer(TrainStepBuilder.build(logitsAsParameter(logits),
        plain.withDistillation(new TrainConfig.Distillation(0.5, 4))), ExecutionConfig.cpu(1));
        Trainer ce = new Trainer(TrainStepBuilder.build(logitsAsParameter(logits), plain), ExecutionConfig.cpu(1))) {
      TrainingException e = assertThrows(TrainingException.class,
          () -> distilling.step(logits, new long[BATCH], 0.1f));
      assertTrue(e.getMessage().contains("teacher's logits"), e.getMessage());
      e = assertThrows(TrainingException.class, () -> distilling.step(logits, new long[BATCH], new float[3], 0.1f));
      assertTrue(e.getMessage().contains("expected 20 values, got 3"), e.getMessage());
      e = assertThrows(TrainingException.class, () -> ce.step(logits, new long[BATCH], logits, 0.1f));
      assertTrue(e.getMessage().contains("does not distil"), e.getMessage());
      IllegalArgumentException k = assertThrows(IllegalArgumentException.class,
          () -> KStepGraph.build(distilling.graph(), 2));
      assertTrue(k.getMessage().contains("cannot wrap a distilling step"), k.getMessage());
    }
  }

  /**
   * With α = 1 the soft term weighs nothing: a real network trained with the distillation graph
   * (and teacher logits far from its own) ends each step with the parameters plain cross-entropy
   * training gives; with α = 0.5 it does not, so the comparison can tell.
   */
  @Test
  void alphaOneTrainsExactlyAsPlainCrossEntropyStepByStep() throws Exception {
    ModelProto model = TorchExports.model("tiny", 16, 10);
    int batch = 8;
    ForwardModel forward = ForwardModel.prepare(model, batch);
    TrainConfig plain = TrainConfig.sgd(batch, 0.9);
    Random random = new Random(17);
    int steps = 4;
    int imageLength = 3 * 16 * 16;
    float[][] images = new float[steps][];
    long[][] labels = new long[steps][batch];
    float[][] teacher = new float[steps][];
    for (int s = 0; s < steps; s++) {
      images[s] = gaussian(random, batch * imageLength, 1);
      teacher[s] = gaussian(random, batch * 10, 5);
      for (int i = 0; i < batch; i++) {
        labels[s][i] = random.nextInt(10);
      }
    }
    try (Trainer ce = new Trainer(TrainStepBuilder.build(forward, plain), ExecutionConfig.cpu(1));
        Trainer hard = new Trainer(TrainStepBuilder.build(forward,
            plain.withDistillation(new TrainConfig.Distillation(1, 4))), ExecutionConfig.cpu(1));
        Trainer half = new Trainer(TrainStepBuilder.build(forward,
            plain.withDistillation(new TrainConfig.Distillation(0.5, 4))), ExecutionConfig.cpu(1))) {
      for (int s = 0; s < steps; s++) {
        float lossCe = ce.step(images[s], labels[s], 0.05f);
        float lossHard = hard.step(images[s], labels[s], teacher[s], 0.05f);
        half.step(images[s], labels[s], teacher[s], 0.05f);
        assertEquals(lossCe, lossHard, 1e-6 * Math.abs(lossCe), "loss at step " + s);
        for (String p : forward.parameters()) {
          float[] a = ce.value(p);
          float[] b = hard.value(p);
          for (int i = 0; i < a.length; i++) {
            assertEquals(a[i], b[i], 1e-6f * Math.max(1, Math.abs(a[i])), p + "[" + i + "] after step " + s);
          }
        }
      }
      double differs = 0;
      for (String p : forward.parameters()) {
        float[] a = ce.value(p);
        float[] b = half.value(p);
        for (int i = 0; i < a.length; i++) {
          differs = Math.max(differs, Math.abs(a[i] - b[i]));
        }
      }
      assertTrue(differs > 1e-3, "alpha 0.5 moves the parameters elsewhere: max difference " + differs);
    }
  }
}
