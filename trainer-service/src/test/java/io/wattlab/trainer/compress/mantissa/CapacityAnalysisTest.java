package io.wattlab.trainer.compress.mantissa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wattlab.trainer.compress.mantissa.CapacityAnalysis.LayerCapacity;
import io.wattlab.trainer.compress.mantissa.CapacityAnalysis.Point;
import io.wattlab.trainer.model.Pretrainer;
import io.wattlab.trainer.onnx.OnnxModels;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.ForwardModel;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The mantissa-bit curve of a trained built-in model, whole and per layer. */
class CapacityAnalysisTest {

  static final int TEST_IMAGES = 128;

  /**
   * How far accuracy may rise with N and still count as not rising: two test images. Overwriting N
   * bits moves each weight by less than 2^(N-23) of itself, each way at random, so only images near
   * a decision boundary can change class, and they can go either way; a real rise would need the
   * random bits to help systematically.
   */
  static final double NOISE = 2.0 / TEST_IMAGES;

  static Pretrainer.Report trained;
  static ForwardModel forward;
  static CapacityAnalysis.Result result;

  @BeforeAll
  static void analyse() throws Exception {
    trained = TrainedSynthetic.report();
    forward = ForwardModel.prepare(OnnxModels.read(trained.checkpoint()), 32);
    result = CapacityAnalysis.run(forward, TrainedSynthetic.dataset().test(), 4,
        new CapacityAnalysis.Settings(1, true, 7, 32, 0, ExecutionConfig.cpu(1)));
  }

  @Test
  void noBitsOverwrittenIsTheBaselineExactly() {
    assertEquals(TEST_IMAGES, result.testImages());
    assertEquals(result.baselineTop1(), result.curve().get(0).top1(), "N = 0 is the model itself");
    // The pretrainer measured the written file in a plain inference session (BatchNorm may be folded
    // there, so near-ties could differ): one image at most.
    assertEquals(trained.top1(), result.baselineTop1(), 1.0 / TEST_IMAGES);
    assertTrue(result.baselineTop1() >= 0.9, "a trained model to measure; got " + result.baselineTop1());
  }

  @Test
  void accuracyDoesNotRiseWithNAndCollapsesWhenTheWholeMantissaIsRandom() {
    List<Point> curve = result.curve();
    assertEquals(24, curve.size());
    for (int n = 0; n < curve.size(); n++) {
      assertEquals(n, curve.get(n).bits());
      for (int m = 0; m < n; m++) {
        assertTrue(curve.get(n).top1() <= curve.get(m).top1() + NOISE, "top-1 rose from N=" + m + " to N=" + n
            + ": " + curve);
      }
    }
    for (int n = 0; n <= 12; n++) {
      assertEquals(result.baselineTop1(), curve.get(n).top1(), NOISE, "12 bits are 2^-11 of a weight: " + curve);
    }
    // A random mantissa scales each weight by a random factor in (1/2, 2): chance is 0.25 here.
    assertTrue(curve.get(23).top1() <= result.baselineTop1() - 0.3, "random mantissas must hurt: " + curve);
  }

  @Test
  void capacityIsTheLastNBeforeTheFirstDropBeyondTheTolerance() {
    int c = result.capacityBits();
    assertTrue(c >= 12 && c < 23, "capacity " + c + " of " + result.curve());
    double threshold = result.baselineTop1() - 0.01;
    for (int n = 0; n <= c; n++) {
      assertTrue(result.curve().get(n).top1() >= threshold - 1e-9, "N=" + n);
    }
    assertTrue(result.curve().get(c + 1).top1() < threshold, "N=" + (c + 1) + " drops beyond 1 point");
    assertEquals((long) c * result.weightValues(), result.capacityTotalBits());
  }

  @Test
  void eachLayerAloneToleratesAtLeastWhatAllLayersTogetherDo() {
    List<LearnedWeights.Layer> layers = LearnedWeights.of(forward.graph().toGraphProto()).layers();
    assertEquals(layers.size(), result.layers().size());
    assertTrue(layers.size() >= 40, "resnet-cifar's convolutions, BatchNorms and head: " + layers.size());
    long values = 0;
    for (LayerCapacity l : result.layers()) {
      values += l.values();
      assertTrue(l.evaluated().size() >= 1 && l.evaluated().size() <= 6, l.toString());
      assertEquals(23, l.evaluated().get(0).bits(), "N = 23 is tried first");
      assertTrue(l.capacityBits() >= result.capacityBits(), l + " below the whole model's " + result.capacityBits());
    }
    assertEquals(result.weightValues(), values, "every weight belongs to exactly one layer");
  }

  @Test
  void searchFindsTheLastNBeforeTheDropWithSixEvaluationsAtMost() {
    for (int drop = 0; drop <= 24; drop++) {
      int last = drop - 1;
      List<Point> evaluated = new ArrayList<>();
      int found = CapacityAnalysis.search(n -> n <= last ? 0.9 : 0.2, 0.89, evaluated);
      assertEquals(Math.max(last, 0), found, "drop after N=" + last);
      assertTrue(evaluated.size() <= 6, evaluated.toString());
    }
  }
}
