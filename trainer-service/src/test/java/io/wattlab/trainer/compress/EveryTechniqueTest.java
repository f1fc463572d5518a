package io.wattlab.trainer.compress;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.compress.quantize.RangeCollector;
import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetSpec;
import io.wattlab.trainer.data.Datasets;
import io.wattlab.trainer.testing.TorchExports;
import io.wattlab.trainer.train.ExecutionConfig;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every technique on every torchvision family the issue names (resnet18 with BatchNorm kept,
 * mobilenet_v2, efficientnet_b0, densenet121; 32 px, 10 classes): the compressed model loads in a
 * fresh ONNX Runtime session and gives one finite logit per class, and at zero strength the
 * techniques that have one give the input model's outputs exactly. vgg16 (224 px only) goes
 * through every pass in bench/compress instead: its export alone is half a gigabyte.
 */
class EveryTechniqueTest {

  static final List<String> MODELS = List.of("resnet18", "mobilenet_v2", "efficientnet_b0", "densenet121");

  /** Each technique at a working strength. */
  static final Map<String, Map<String, String>> WORKING = Map.of(
      "prune", Map.of("sparsity", "0.5"),
      "prune_structured", Map.of("sparsity", "0.5"),
      "low_rank", Map.of("rank_ratio", "0.5"),
      "mantissa", Map.of("bits", "16"),
      "precision", Map.of("format", "bf16"),
      "quantize", Map.of("mode", "static", "calibration_images", "32"),
      "distill", Map.of("student.technique", "prune", "student.sparsity", "0.5"));

  /** The techniques that have a strength of zero, at it. */
  static final Map<String, Map<String, String>> ZERO = Map.of(
      "prune", Map.of("sparsity", "0"),
      "prune_structured", Map.of("sparsity", "0"),
      "low_rank", Map.of("rank_ratio", "1"),
      "mantissa", Map.of("bits", "0"),
      "distill", Map.of("student.technique", "none"));

  private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();
  private static final Map<String, ModelProto> EXPORTS = new HashMap<>();

  static Stream<Arguments> working() {
    return cases(WORKING);
  }

  static Stream<Arguments> zero() {
    return cases(ZERO);
  }

  private static Stream<Arguments> cases(Map<String, Map<String, String>> techniques) {
    List<Arguments> all = new ArrayList<>();
    for (String model : MODELS) {
      techniques.keySet().stream().sorted().forEach(t -> all.add(Arguments.of(model, t, techniques.get(t))));
    }
    return all.stream();
  }

  @ParameterizedTest(name = "{1} on {0}")
  @MethodSource("working")
  void theCompressedModelLoadsInAFreshSessionAndKeepsTheOutputShape(String model, String technique,
      Map<String, String> parameters) throws Exception {
    ModelProto original = export(model);
    ModelProto compressed = apply(technique, parameters, original);
    float[] out = logits(compressed);
    assertEquals(10, out.length, technique + " on " + model + " changed the output shape");
    for (float v : out) {
      assertTrue(Float.isFinite(v), technique + " on " + model + " gives a non-finite logit " + v);
    }
    // Each technique at this strength changes the numbers: a pass that silently did nothing fails here.
    assertTrue(!java.util.Arrays.equals(logits(original), out), technique + " on " + model + " changed nothing");
  }

  @ParameterizedTest(name = "{1} at zero strength on {0}")
  @MethodSource("zero")
  void atZeroStrengthTheOutputsAreTheInputModels(String model, String technique, Map<String, String> parameters)
      throws Exception {
    ModelProto original = export(model);
    assertArrayEquals(logits(original), logits(apply(technique, parameters, original)),
        technique + " at zero strength changed " + model + "'s outputs");
  }

  private static synchronized ModelProto export(String model) throws Exception {
    ModelProto m = EXPORTS.get(model);
    if (m == null) {
      m = TorchExports.model(model, 32, 10);
      EXPORTS.put(model, m);
    }
    return m;
  }

  /** Runs a technique as a run's compress phase does, calibrating a pass that asks for it. */
  private static ModelProto apply(String technique, Map<String, String> parameters, ModelProto model)
      throws Exception {
    CompressionPass pass = Techniques.create(technique, parameters);
    if (pass instanceof CalibratedPass c) {
      Dataset noise = Datasets.open(new DatasetSpec("synthetic", null, Map.of("classes", "10", "size", "32x32",
          "train", "32", "test", "8", "seed", "3")));
      Set<String> tensors = c.calibrationTensors(model);
      pass = c.calibrated(RangeCollector.collect(model, tensors, noise.train(), c.calibrationImages(), 8, 5,
          c.calibrationPercentile(), ExecutionConfig.cpu(2)));
    }
    return pass.apply(model).model();
  }

  /** The logits of one fixed random image. */
  private static float[] logits(ModelProto model) throws Exception {
    Set<String> initializers = model.getGraph().getInitializerList().stream().map(TensorProto::getName)
        .collect(Collectors.toSet());
    String input = model.getGraph().getInputList().stream().map(v -> v.getName())
        .filter(n -> !initializers.contains(n)).findFirst().orElseThrow();
    float[] image = new float[3 * 32 * 32];
    Random random = new Random(11);
    for (int i = 0; i < image.length; i++) {
      image[i] = (float) random.nextGaussian();
    }
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      options.setIntraOpNumThreads(2);
      try (OrtSession session = ENV.createSession(model.toByteArray(), options);
          OnnxTensor x = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(image), new long[] {1, 3, 32, 32});
          OrtSession.Result r = session.run(Map.of(input, x))) {
        float[][] out = (float[][]) r.get(0).getValue();
        assertEquals(1, out.length);
        return out[0];
      }
    }
  }
}
