package io.wattlab.trainer.compress.prune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import io.wattlab.trainer.compress.Compressed;
import io.wattlab.trainer.compress.CompressionException;
import io.wattlab.trainer.compress.InvalidCompressionException;
import io.wattlab.trainer.compress.Techniques;
import io.wattlab.trainer.model.ModelFacts;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.testing.TorchExports;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.ForwardModel;
import io.wattlab.trainer.train.TrainConfig;
import io.wattlab.trainer.train.TrainStepBuilder;
import io.wattlab.trainer.train.Trainer;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Magnitude pruning of torchvision resnet18 and mobilenet_v2 (32 px, 10 classes), run and trained on ONNX Runtime. */
class MagnitudePruningTest {

  private static ModelProto resnet18;
  private static ModelProto mobilenet;

  @BeforeAll
  static void export() throws Exception {
    resnet18 = TorchExports.model("resnet18", 32, 10);
    mobilenet = TorchExports.model("mobilenet_v2", 32, 10);
  }

  private static Compressed prune(ModelProto model, Map<String, String> parameters) {
    return Techniques.create("prune", parameters).apply(model);
  }

  /** Conv and Gemm weights (torchvision's prunable tensors), found here independently of the pass. */
  private static Map<String, float[]> weights(ModelProto model) {
    Map<String, TensorProto> inits = new LinkedHashMap<>();
    model.getGraph().getInitializerList().forEach(t -> inits.put(t.getName(), t));
    Map<String, float[]> out = new LinkedHashMap<>();
    for (NodeProto n : model.getGraph().getNodeList()) {
      if ((n.getOpType().equals("Conv") || n.getOpType().equals("Gemm")) && inits.containsKey(n.getInput(1))) {
        out.put(n.getInput(1), Tensors.toFloats(inits.get(n.getInput(1))));
      }
    }
    return out;
  }

  private static int zeros(float[] w) {
    int z = 0;
    for (float v : w) {
      z += v == 0f ? 1 : 0;
    }
    return z;
  }

  /** Logits of one fixed random image, from a fresh session. */
  private static float[] logits(ModelProto model) throws Exception {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession s = env.createSession(model.toByteArray())) {
      String input = s.getInputNames().iterator().next();
      long[] dims = ((TensorInfo) s.getInputInfo().get(input).getInfo()).getShape();
      dims[0] = 1;
      float[] x = new float[(int) Tensors.numel(dims)];
      Random random = new Random(5);
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) random.nextGaussian();
      }
      try (OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), dims);
           OrtSession.Result r = s.run(Map.of(input, t))) {
        float[][] y = (float[][]) r.get(0).getValue();
        assertEquals(1, y.length);
        return y[0];
      }
    }
  }

  /** Every initializer other than the prunable weights is byte for byte as it was. */
  private static void assertOnlyWeightsChanged(ModelProto before, ModelProto after) {
    Map<String, float[]> prunable = weights(before);
    Map<String, TensorProto> old = new LinkedHashMap<>();
    before.getGraph().getInitializerList().forEach(t -> old.put(t.getName(), t));
    assertEquals(before.getGraph().getInitializerCount(), after.getGraph().getInitializerCount());
    for (TensorProto t : after.getGraph().getInitializerList()) {
      if (!prunable.containsKey(t.getName())) {
        assertEquals(old.get(t.getName()), t, t.getName() + " is not a prunable weight");
      }
    }
    assertEquals(before.getGraph().getNodeList(), after.getGraph().getNodeList());
  }

  @Test
  void layerScopePrunesEachLayerToTheSparsityByItsSmallestMagnitudes() throws Exception {
    Compressed out = prune(resnet18, Map.of("sparsity", "0.3"));
    Map<String, float[]> before = weights(resnet18);
    Map<String, float[]> after = weights(out.model());
    assertEquals(21, before.size(), "20 Conv and the fc Gemm");
    long expected = 0;
    for (var e : before.entrySet()) {
      float[] w = e.getValue();
      float[] p = after.get(e.getKey());
      assertEquals(0, zeros(w), "torch's random init has no exact zeros, so every zero below is the pass's");
      long k = Math.round(0.3 * w.length);
      assertEquals(k, zeros(p), e.getKey());
      float largestPruned = 0;
      float smallestKept = Float.POSITIVE_INFINITY;
      for (int i = 0; i < w.length; i++) {
        if (p[i] == 0f) {
          largestPruned = Math.max(largestPruned, Math.abs(w[i]));
        } else {
          assertEquals(w[i], p[i], "a kept weight keeps its value");
          smallestKept = Math.min(smallestKept, Math.abs(w[i]));
        }
      }
      assertTrue(largestPruned <= smallestKept, e.getKey() + ": pruned up to " + largestPruned + ", kept from "
          + smallestKept);
      expected += k;
    }
    assertOnlyWeightsChanged(resnet18, out.model());
    assertEquals(Long.toString(expected), out.details().get("pruned_parameters"));
    assertEquals("21", out.details().get("layers_pruned"));
    assertFalse(out.details().containsKey("threshold"), "one threshold only for global scope");
    assertEquals(expected, ModelFacts.of(resnet18).nonZeroParameters() - ModelFacts.of(out.model()).nonZeroParameters());
    assertEquals(10, logits(out.model()).length);
  }

  @Test
  void globalScopeUsesOneThresholdOverAllLayers() throws Exception {
    Compressed out = prune(mobilenet, Map.of("sparsity", "0.5", "scope", "global"));
    Map<String, float[]> before = weights(mobilenet);
    Map<String, float[]> after = weights(out.model());
    float threshold = Float.parseFloat(out.details().get("threshold"));
    long total = 0;
    long pruned = 0;
    double minLayer = 1;
    double maxLayer = 0;
    for (var e : before.entrySet()) {
      float[] w = e.getValue();
      float[] p = after.get(e.getKey());
      for (int i = 0; i < w.length; i++) {
        if (p[i] == 0f) {
          assertTrue(Math.abs(w[i]) <= threshold, e.getKey() + "[" + i + "] pruned above the threshold");
        } else {
          assertTrue(Math.abs(w[i]) >= threshold, e.getKey() + "[" + i + "] kept below the threshold");
        }
      }
      int z = zeros(p);
      total += w.length;
      pruned += z;
      minLayer = Math.min(minLayer, z / (double) w.length);
      maxLayer = Math.max(maxLayer, z / (double) w.length);
    }
    assertEquals(Math.round(0.5 * total), pruned, "exactly half of " + total + " weights");
    assertTrue(maxLayer - minLayer > 0.2, "layers reach unequal sparsity under one threshold: " + minLayer + ".."
        + maxLayer + " " + out.details());
    assertEquals(Long.toString(total), out.details().get("prunable_parameters"));
    assertEquals("0.5000", out.details().get("sparsity_achieved"));
    assertOnlyWeightsChanged(mobilenet, out.model());
    assertEquals(pruned, ModelFacts.of(mobilenet).nonZeroParameters() - ModelFacts.of(out.model()).nonZeroParameters());
    assertEquals(10, logits(out.model()).length);
  }

  /** Replaces the first {@code layers} prunable weights by ±magnitude, all equal in |w|. */
  private static ModelProto withEqualMagnitudes(ModelProto model, int layers, float magnitude) {
    List<String> names = List.copyOf(weights(model).keySet()).subList(0, layers);
    ModelProto.Builder b = model.toBuilder();
    for (int i = 0; i < b.getGraph().getInitializerCount(); i++) {
      TensorProto t = b.getGraph().getInitializer(i);
      if (names.contains(t.getName())) {
        float[] w = Tensors.toFloats(t);
        for (int j = 0; j < w.length; j++) {
          w[j] = j % 2 == 0 ? magnitude : -magnitude;
        }
        b.getGraphBuilder().setInitializer(i, Tensors.floats(t.getName(), Tensors.dims(t), w));
      }
    }
    return b.build();
  }

  @Test
  void tiesAreBrokenByLayerOrderThenPositionSoTheCountIsExact() {
    // far below any magnitude torch draws, so these two layers hold the k smallest
    ModelProto tied = withEqualMagnitudes(resnet18, 2, 1e-30f);
    Map<String, float[]> before = weights(tied);
    List<String> names = List.copyOf(before.keySet());
    int first = before.get(names.get(0)).length;
    long total = before.values().stream().mapToLong(w -> w.length).sum();

    Map<String, float[]> layer = weights(prune(tied, Map.of("sparsity", "0.5")).model());
    float[] conv1 = layer.get(names.get(0));
    for (int i = 0; i < first; i++) {
      assertEquals(i < first / 2, conv1[i] == 0f, "position " + i + " of " + first);
    }

    // Global: all of the first layer, then the lowest 1000 positions of the second, nothing else.
    double sparsity = (first + 1000) / (double) total;
    Compressed global = prune(tied, Map.of("sparsity", Double.toString(sparsity), "scope", "global"));
    Map<String, float[]> g = weights(global.model());
    assertEquals(first, zeros(g.get(names.get(0))));
    float[] second = g.get(names.get(1));
    for (int i = 0; i < second.length; i++) {
      assertEquals(i < 1000, second[i] == 0f, "position " + i + " of the second layer");
    }
    for (String name : names.subList(2, names.size())) {
      assertEquals(0, zeros(g.get(name)), name);
    }
    assertEquals(Float.toString(1e-30f), global.details().get("threshold"));
  }

  @Test
  void sparsityZeroIsAnIdentityAndGradualStartsDense() throws Exception {
    for (ModelProto model : List.of(resnet18, mobilenet)) {
      float[] reference = logits(model);
      for (Map<String, String> p : List.of(Map.of("sparsity", "0"), Map.of("sparsity", "0", "scope", "global"),
          Map.of("sparsity", "0.8", "schedule", "gradual"))) {
        Compressed out = prune(model, p);
        assertArrayEquals(reference, logits(out.model()), p.toString());
        assertEquals(model.getGraph(), out.model().getGraph(), p.toString());
        assertEquals("0", out.details().get("pruned_parameters"));
        assertEquals(p.containsKey("schedule") ? 1 : 0, out.constraints().size(), "a mask only where training prunes");
      }
    }
  }

  @Test
  void prunedWeightsStayZeroThroughSgdMomentumStepsWhileTheRestTrains() throws Exception {
    Compressed out = prune(mobilenet, Map.of("sparsity", "0.5"));
    PruningMask mask = (PruningMask) out.constraints().get(0);
    ForwardModel forward = ForwardModel.prepare(out.model(), 4);
    assertTrue(forward.parameters().containsAll(mask.layers()), "the mask names the trainer's parameters");
    Batch batch = Batch.random(forward, 4, 10, 11);
    Map<String, float[]> pruned = weights(out.model());
    try (Trainer trainer = new Trainer(TrainStepBuilder.build(forward, TrainConfig.sgd(4, 0.9)), ExecutionConfig.cpu(1));
         Trainer free = new Trainer(TrainStepBuilder.build(forward, TrainConfig.sgd(4, 0.9)), ExecutionConfig.cpu(1))) {
      trainer.constrain(out.constraints());
      trainer.beginEpoch(1, 1);
      for (int s = 0; s < 3; s++) {
        trainer.step(batch.images, batch.labels, 0.05f);
        free.step(batch.images, batch.labels, 0.05f);
      }
      int revived = 0;
      for (var e : pruned.entrySet()) {
        float[] trained = trainer.value(e.getKey());
        float[] unconstrained = free.value(e.getKey());
        int moved = 0;
        for (int i = 0; i < trained.length; i++) {
          if (e.getValue()[i] == 0f) {
            assertEquals(0f, trained[i], e.getKey() + "[" + i + "] is held at zero");
            revived += unconstrained[i] != 0f ? 1 : 0;
          } else if (trained[i] != e.getValue()[i]) {
            moved++;
          }
        }
        assertTrue(moved > 0, e.getKey() + ": its kept weights train");
      }
      assertTrue(revived > 1000, "without the mask the pruned weights would train again (" + revived + ")");
    }
  }

  @Test
  void gradualScheduleTightensEpochByEpochFromTheCurrentMagnitudes() throws Exception {
    int epochs = 4;
    double finalSparsity = 0.6;
    Compressed out = prune(resnet18, Map.of("sparsity", "0.6", "schedule", "gradual", "scope", "global"));
    PruningMask mask = (PruningMask) out.constraints().get(0);
    ForwardModel forward = ForwardModel.prepare(out.model(), 2);
    Batch batch = Batch.random(forward, 2, 10, 3);
    List<String> layers = mask.layers();
    long total = weights(resnet18).values().stream().mapToLong(w -> w.length).sum();
    try (Trainer trainer = new Trainer(TrainStepBuilder.build(forward, TrainConfig.sgd(2, 0.9)), ExecutionConfig.cpu(1))) {
      trainer.constrain(out.constraints());
      long previous = -1;
      for (int epoch = 1; epoch <= epochs; epoch++) {
        Map<String, float[]> current = new LinkedHashMap<>();
        layers.forEach(name -> current.put(name, trainer.value(name)));
        trainer.beginEpoch(epoch, epochs);
        double expected = finalSparsity * (1 - Math.pow(1 - (epoch - 1) / 3.0, 3));
        long zeros = 0;
        float largestPruned = 0;
        float smallestKept = Float.POSITIVE_INFINITY;
        for (String name : layers) {
          float[] was = current.get(name);
          float[] now = trainer.value(name);
          for (int i = 0; i < now.length; i++) {
            if (was[i] == 0f) {
              assertEquals(0f, now[i], name + "[" + i + "] pruned before stays pruned");
            }
            if (now[i] == 0f) {
              zeros++;
              largestPruned = Math.max(largestPruned, Math.abs(was[i]));
            } else {
              smallestKept = Math.min(smallestKept, Math.abs(was[i]));
            }
          }
        }
        assertEquals(Math.round(expected * total), zeros, "epoch " + epoch + " at sparsity " + expected);
        assertEquals(expected, mask.sparsity(), 1e-12);
        assertTrue(zeros > previous, "epoch " + epoch + " prunes more than the one before");
        assertTrue(largestPruned <= smallestKept, "epoch " + epoch + ": ranked by the trained magnitudes");
        previous = zeros;
        for (int s = 0; s < 2; s++) {
          trainer.step(batch.images, batch.labels, 0.05f);
        }
      }
      long finalZeros = layers.stream().mapToLong(name -> zeros(trainer.value(name))).sum();
      assertEquals(Math.round(finalSparsity * total), finalZeros, "the last epoch trains at the final sparsity");
    }
  }

  @Test
  void theCubicScheduleRunsFromDenseToTheFinalSparsity() {
    assertEquals(0, SparsitySchedule.GRADUAL.sparsity(0.8, 1, 5), 0);
    assertEquals(0.8 * (1 - 0.75 * 0.75 * 0.75), SparsitySchedule.GRADUAL.sparsity(0.8, 2, 5), 1e-15);
    assertEquals(0.8 * (1 - 0.125), SparsitySchedule.GRADUAL.sparsity(0.8, 3, 5), 1e-15);
    assertEquals(0.8, SparsitySchedule.GRADUAL.sparsity(0.8, 5, 5), 1e-15);
    assertEquals(0.8, SparsitySchedule.GRADUAL.sparsity(0.8, 1, 1), 0, "one epoch: at the final sparsity");
    assertEquals(0.8, SparsitySchedule.ONESHOT.sparsity(0.8, 1, 5), 0);
    assertEquals(0, SparsitySchedule.GRADUAL.atPass(0.8), 0);
    assertEquals(0.8, SparsitySchedule.ONESHOT.atPass(0.8), 0);
  }

  @Test
  void badParametersAreRefusedNamingTheKey() {
    Map<Map<String, String>, String> cases = new LinkedHashMap<>();
    cases.put(Map.of("sparsity", "1"), "parameters.sparsity");
    cases.put(Map.of("sparsity", "-0.1"), "parameters.sparsity");
    cases.put(Map.of("sparsity", "half"), "parameters.sparsity");
    cases.put(Map.of("scope", "channel"), "parameters.scope");
    cases.put(Map.of("schedule", "linear"), "parameters.schedule");
    cases.put(Map.of("sparisty", "0.5"), "parameters.sparisty");
    cases.forEach((p, field) -> {
      InvalidCompressionException e = assertThrows(InvalidCompressionException.class,
          () -> Techniques.create("prune", p));
      assertEquals(field, e.field(), e.getMessage());
    });
    assertTrue(assertThrows(InvalidCompressionException.class, () -> Techniques.create("prune",
        Map.of("sparsity", "1"))).problem().contains("[0, 1)"));
    assertEquals(Map.of("sparsity", "0.5", "scope", "layer", "schedule", "oneshot"),
        Techniques.create("prune", Map.of()).parameters().asMap(), "defaults");
  }

  @Test
  void aWeightThatIsNotFloat32IsNamedWithItsNode() {
    ModelProto.Builder b = resnet18.toBuilder();
    String weight = weights(resnet18).keySet().iterator().next();
    for (int i = 0; i < b.getGraph().getInitializerCount(); i++) {
      if (b.getGraph().getInitializer(i).getName().equals(weight)) {
        TensorProto t = b.getGraph().getInitializer(i);
        b.getGraphBuilder().setInitializer(i, t.toBuilder().setDataType(TensorProto.DataType.FLOAT16_VALUE)
            .setRawData(t.getRawData().substring(0, t.getRawData().size() / 2)));
      }
    }
    NodeProto conv = resnet18.getGraph().getNodeList().stream().filter(n -> n.getInputList().contains(weight))
        .findFirst().orElseThrow();
    CompressionException e = assertThrows(CompressionException.class, () -> prune(b.build(), Map.of()));
    assertTrue(e.getMessage().contains(conv.getName()) && e.getMessage().contains("Conv")
        && e.getMessage().contains(weight) && e.getMessage().contains("FLOAT16"), e.getMessage());
  }

  /** A random batch of images and labels shaped for a forward model. */
  private record Batch(float[] images, long[] labels) {
    static Batch random(ForwardModel forward, int size, int classes, long seed) {
      long[] dims = forward.graph().inputs().get(forward.input()).dims();
      Random random = new Random(seed);
      float[] images = new float[(int) Tensors.numel(dims)];
      for (int i = 0; i < images.length; i++) {
        images[i] = (float) random.nextGaussian();
      }
      long[] labels = new long[size];
      for (int i = 0; i < size; i++) {
        labels[i] = random.nextInt(classes);
      }
      return new Batch(images, labels);
    }
  }
}
