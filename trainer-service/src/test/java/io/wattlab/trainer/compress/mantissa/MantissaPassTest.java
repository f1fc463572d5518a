package io.wattlab.trainer.compress.mantissa;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.compress.Compressed;
import io.wattlab.trainer.compress.CompressionPass;
import io.wattlab.trainer.compress.InvalidCompressionException;
import io.wattlab.trainer.compress.PassReport;
import io.wattlab.trainer.compress.Techniques;
import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetSpec;
import io.wattlab.trainer.data.Datasets;
import io.wattlab.trainer.data.batch.Batch;
import io.wattlab.trainer.data.batch.BatchIterator;
import io.wattlab.trainer.data.batch.BatchLoader;
import io.wattlab.trainer.model.BuiltinModels;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.testing.TorchExports;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.ForwardModel;
import io.wattlab.trainer.train.ModelExport;
import io.wattlab.trainer.train.TrainConfig;
import io.wattlab.trainer.train.TrainStepBuilder;
import io.wattlab.trainer.train.Trainer;
import java.nio.FloatBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class MantissaPassTest {

  private static final ModelProto RESNET = BuiltinModels.create("resnet-cifar", 4, 3, 16, 16, 3);

  private static Compressed mantissa(int bits, ModelProto model) {
    return Techniques.create("mantissa", Map.of("bits", Integer.toString(bits))).apply(model);
  }

  private static Map<String, TensorProto> initializers(ModelProto model) {
    Map<String, TensorProto> m = new HashMap<>();
    model.getGraph().getInitializerList().forEach(t -> m.put(t.getName(), t));
    return m;
  }

  @Test
  void everyWeightLosesItsLowBitsAndNothingElseChanges() throws Exception {
    Compressed out = mantissa(8, RESNET);
    LearnedWeights weights = LearnedWeights.of(RESNET.getGraph());
    Map<String, TensorProto> before = initializers(RESNET);
    Map<String, TensorProto> after = initializers(out.model());
    int checked = 0;
    int statistics = 0;
    for (String name : before.keySet()) {
      if (weights.tensors().contains(name)) {
        float[] b = Tensors.toFloats(before.get(name));
        float[] a = Tensors.toFloats(after.get(name));
        for (int i = 0; i < a.length; i++) {
          assertEquals(MantissaBits.clearLow(b[i], 8), a[i], name + "[" + i + "]");
        }
        checked++;
      } else {
        assertEquals(before.get(name), after.get(name), name + " is no weight and stays as it was");
        statistics += name.contains("running") || name.contains("mean") || name.contains("var") ? 1 : 0;
      }
    }
    assertTrue(checked >= 20, "conv, BN and head weights of resnet-cifar; got " + checked);
    assertTrue(statistics > 0, "BatchNorm running statistics exist and were left alone: " + before.keySet());
    assertTrue(weights.layers().stream().anyMatch(l -> l.opType().equals("BatchNormalization")));
    assertTrue(weights.layers().stream().anyMatch(l -> l.opType().equals("Gemm") || l.opType().equals("MatMul")));
    assertEquals("8", out.details().get("bits_cleared"));
    assertEquals("16", out.details().get("significand_bits_kept"));
    long changed = Long.parseLong(out.details().get("values_changed"));
    long values = Long.parseLong(out.details().get("weight_values"));
    // A random float has its low 8 bits all zero with probability 1/256; BN weights of ones already do.
    assertTrue(changed > values * 0.9, changed + " of " + values);

    // Loads in a fresh session, same output shape, outputs within the truncation's reach.
    float[][] original = run(RESNET, 2);
    float[][] cleared = run(out.model(), 2);
    assertEquals(original[0].length, cleared[0].length);
    double maxDiff = 0;
    double maxAbs = 0;
    for (int i = 0; i < original.length; i++) {
      for (int j = 0; j < original[i].length; j++) {
        maxDiff = Math.max(maxDiff, Math.abs(original[i][j] - cleared[i][j]));
        maxAbs = Math.max(maxAbs, Math.abs(original[i][j]));
      }
    }
    assertTrue(maxDiff > 0, "the weights changed, so do the logits");
    assertTrue(maxDiff < 1e-2 * maxAbs, "2^-15 relative per weight moves logits little: " + maxDiff + " of " + maxAbs);
  }

  @Test
  void zeroBitsIsTheIdentity() throws Exception {
    Compressed out = mantissa(0, RESNET);
    assertEquals(RESNET, out.model());
    assertTrue(out.constraints().isEmpty());
    assertEquals("0", out.details().get("values_changed"));
    assertArrayEquals(run(RESNET, 3), run(out.model(), 3));
  }

  @Test
  void defaultsAndBadParametersAreNamed() {
    CompressionPass pass = Techniques.create("mantissa", Map.of());
    assertEquals(Map.of("bits", "8"), pass.parameters().asMap());
    InvalidCompressionException e = assertThrows(InvalidCompressionException.class,
        () -> Techniques.create("mantissa", Map.of("bits", "24")));
    assertEquals("parameters.bits", e.field());
    assertTrue(e.getMessage().contains("outside [0, 23]"), e.getMessage());
    assertEquals("parameters.bitz", assertThrows(InvalidCompressionException.class,
        () -> Techniques.create("mantissa", Map.of("bitz", "4"))).field());
  }

  @Test
  void torchvisionExportKeepsWorkingAndItsSharedTensorsAreConstrainedUnderEveryName() throws Exception {
    ModelProto resnet18 = TorchExports.model("resnet18", 32, 10);
    PassReport.Outcome outcome = PassReport.run(Techniques.create("mantissa", Map.of("bits", "12")), resnet18);
    Compressed out = outcome.compressed();
    LearnedWeights weights = LearnedWeights.of(resnet18.getGraph());
    MantissaPass.ClearLowBits constraint = (MantissaPass.ClearLowBits) out.constraints().get(0);
    assertEquals(12, constraint.bits());
    // Training gives every Identity copy its own parameter; the constraint must name them all.
    ForwardModel forward = ForwardModel.prepare(out.model(), 2);
    Set<String> trainedWeights = LearnedWeights.of(forward.graph().toGraphProto()).tensors();
    assertTrue(trainedWeights.size() >= 60, "resnet18: 20 convs, 20 BNs with scale and bias, fc: " + trainedWeights);
    assertTrue(constraint.parameters().containsAll(trainedWeights),
        "every weight the trainer sees, Identity copies included, is constrained");
    for (String p : trainedWeights) {
      for (float v : forward.initialState().get(p)) {
        assertTrue(MantissaBits.lowBitsClear(v, 12), p);
      }
    }
    assertEquals(outcome.report().before().parameters(), Long.parseLong(out.details().get("weight_values"))
        + sharedCopies(resnet18, weights), "the pass covers what the report counts as parameters");
    assertEquals(10, run(out.model(), 2)[0].length);
  }

  /** Values of Identity copies, which ModelFacts counts as parameters of their own. */
  private static long sharedCopies(ModelProto model, LearnedWeights weights) {
    Map<String, TensorProto> inits = initializers(model);
    long n = 0;
    for (var e : weights.aliases().entrySet()) {
      n += (e.getValue().size() - 1) * Tensors.numel(Tensors.dims(inits.get(e.getKey())));
    }
    return n;
  }

  @Test
  void clearedBitsStayClearThroughTrainingWhileTheWeightsTrain() throws Exception {
    Dataset data = Datasets.open(new DatasetSpec("synthetic", null, Map.of("classes", "4", "size", "16x16",
        "train", "64", "test", "8", "seed", "5")));
    Compressed out = mantissa(8, RESNET);
    ForwardModel forward = ForwardModel.prepare(out.model(), 16);
    Map<String, float[]> start = forward.initialState();
    Set<String> constrained = out.constraints().get(0).parameters();
    Map<String, float[]> state;
    try (Trainer trainer = new Trainer(TrainStepBuilder.build(forward, TrainConfig.sgd(16, 0.9)),
        ExecutionConfig.cpu(2))) {
      trainer.constrain(out.constraints());
      BatchLoader loader = new BatchLoader(data.train(), 16, true, true, 1, r -> {
        Thread t = new Thread(r);
        t.setDaemon(true);
        return t;
      });
      for (int epoch = 0; epoch < 2; epoch++) {
        try (BatchIterator batches = loader.epoch(epoch)) {
          while (batches.hasNext()) {
            Batch b = batches.next();
            assertTrue(Float.isFinite(trainer.step(b.images(), b.labels(), 0.05f)));
          }
        }
      }
      state = trainer.state();
    }
    int trained = 0;
    for (String p : forward.parameters()) {
      if (!constrained.contains(p)) {
        continue;
      }
      float[] v = state.get(p);
      for (int i = 0; i < v.length; i++) {
        assertTrue(MantissaBits.lowBitsClear(v[i], 8), p + "[" + i + "] = " + v[i] + " after 8 steps");
      }
      trained += java.util.Arrays.equals(v, start.get(p)) ? 0 : 1;
    }
    assertTrue(trained >= constrained.size() * 3 / 4, trained + " of " + constrained.size() + " weights moved");
    // The exported model carries the cleared bits.
    ModelProto exported = ModelExport.trainedModel(forward, state);
    for (String name : LearnedWeights.of(exported.getGraph()).tensors()) {
      for (float v : Tensors.toFloats(initializers(exported).get(name))) {
        assertTrue(MantissaBits.lowBitsClear(v, 8), name);
      }
    }
    // Without the constraint the same steps leave the low bits set: the check above can fail.
    try (Trainer free = new Trainer(TrainStepBuilder.build(forward, TrainConfig.sgd(16, 0.9)),
        ExecutionConfig.cpu(2))) {
      Batch b = new BatchLoader(data.train(), 16, false, true, 1, r -> {
        Thread t = new Thread(r);
        t.setDaemon(true);
        return t;
      }).epoch(0).next();
      free.step(b.images(), b.labels(), 0.05f);
      String conv = forward.parameters().get(0);
      float[] v = free.value(conv);
      long set = java.util.stream.IntStream.range(0, v.length).filter(i -> !MantissaBits.lowBitsClear(v[i], 8)).count();
      assertNotEquals(0, set, conv + " has low bits set after one unconstrained step");
    }
  }

  static float[][] run(ModelProto model, int batch) throws Exception {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    var input = model.getGraph().getInput(0);
    var dims = input.getType().getTensorType().getShape().getDimList();
    long[] shape = new long[dims.size()];
    // An export with a fixed batch dimension gets that one.
    shape[0] = dims.get(0).hasDimValue() ? dims.get(0).getDimValue() : batch;
    int n = (int) shape[0];
    for (int i = 1; i < shape.length; i++) {
      shape[i] = dims.get(i).getDimValue();
      n *= (int) shape[i];
    }
    float[] x = new float[n];
    Random random = new Random(42);
    for (int i = 0; i < n; i++) {
      x[i] = (float) random.nextGaussian();
    }
    try (OrtSession session = env.createSession(model.toByteArray());
         OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), shape);
         OrtSession.Result r = session.run(Map.of(input.getName(), t))) {
      return (float[][]) r.get(0).getValue();
    }
  }
}
