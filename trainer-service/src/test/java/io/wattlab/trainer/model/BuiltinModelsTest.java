package io.wattlab.trainer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.train.ForwardModel;
import java.nio.FloatBuffer;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class BuiltinModelsTest {

  @Test
  void resnetCifarIsResNet20WithProjectionShortcuts() throws Exception {
    ModelProto model = BuiltinModels.create("resnet-cifar", 10, 3, 32, 32);
    assertEquals(21, count(model, "Conv"), "stem + 18 block convs + 2 projections");
    assertEquals(21, count(model, "BatchNormalization"));
    assertEquals(1, count(model, "Gemm"));
    assertEquals(9, count(model, "Add"), "one residual add per basic block");
    assertArrayEquals(new long[] {4, 10}, logitsShape(model, 4, 3, 32, 32));
  }

  @Test
  void mobilenetCifarHasInvertedResidualsWithReluSix() throws Exception {
    ModelProto model = BuiltinModels.create("mobilenet-cifar", 7, 1, 28, 28);
    long depthwise = model.getGraph().getNodeList().stream()
        .filter(n -> n.getOpType().equals("Conv") && groups(n) > 1).count();
    assertEquals(8, depthwise, "one depthwise conv per inverted residual block");
    assertTrue(count(model, "Clip") > 0, "ReLU6 as Clip(0, 6)");
    // Residual adds where stride 1 and channels match: the 16-channel block after the 16-channel
    // stem, and the second block of 24, 32 and 64 channels.
    assertEquals(4, count(model, "Add"));
    assertArrayEquals(new long[] {2, 7}, logitsShape(model, 2, 1, 28, 28));
  }

  @Test
  void theEngineCanPrepareBothForTraining() {
    for (String name : BuiltinModels.names()) {
      ForwardModel forward = ForwardModel.prepare(BuiltinModels.create(name, 10, 3, 32, 32), 8);
      assertTrue(forward.batchNormStats().size() > 0, name + " keeps BatchNorm");
      assertTrue(forward.parameters().contains("fc.weight"), name);
    }
  }

  @Test
  void sameSeedSameBytesOtherSeedOtherWeights() {
    ModelProto a = BuiltinModels.create("resnet-cifar", 10, 3, 32, 32, 7);
    ModelProto b = BuiltinModels.create("resnet-cifar", 10, 3, 32, 32, 7);
    ModelProto c = BuiltinModels.create("resnet-cifar", 10, 3, 32, 32, 8);
    assertEquals(a, b);
    assertNotEquals(a.getGraph().getInitializer(0), c.getGraph().getInitializer(0));
  }

  @Test
  void convWeightsHaveKaimingFanOutDeviation() {
    ModelProto model = BuiltinModels.create("resnet-cifar", 10, 3, 32, 32, 3);
    // layer3.1.conv1: 64 outputs × 3 × 3 → std sqrt(2 / 576), and 64·64·9 = 36,864 samples.
    float[] w = io.wattlab.trainer.onnx.Tensors.toFloats(model.getGraph().getInitializerList().stream()
        .filter(t -> t.getName().equals("layer3.1.conv1.weight")).findFirst().orElseThrow());
    double sumSq = 0;
    for (float v : w) {
      sumSq += v * v;
    }
    double std = Math.sqrt(sumSq / w.length);
    assertEquals(Math.sqrt(2.0 / 576), std, 0.02 * Math.sqrt(2.0 / 576));
  }

  @Test
  void unknownNameListsTheKnownOnes() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> BuiltinModels.create("resnet-50", 10, 3, 32, 32));
    assertTrue(e.getMessage().contains("resnet-50") && e.getMessage().contains("mobilenet-cifar, resnet-cifar"),
        e.getMessage());
  }

  @Test
  void newHeadChangesOnlyTheClassifier() throws Exception {
    ModelProto model = BuiltinModels.create("resnet-cifar", 10, 3, 16, 16, 1);
    ModelProto tuned = BuiltinModels.withNewHead(model, 4, 99);
    assertArrayEquals(new long[] {3, 4}, logitsShape(tuned, 3, 3, 16, 16));
    assertEquals(new java.util.HashSet<>(model.getGraph().getNodeList()), new java.util.HashSet<>(tuned.getGraph().getNodeList()));
    Map<String, ai.onnx.proto.OnnxMl.TensorProto> before = initializers(model);
    Map<String, ai.onnx.proto.OnnxMl.TensorProto> after = initializers(tuned);
    assertEquals(before.keySet(), after.keySet());
    for (String name : before.keySet()) {
      if (name.startsWith("fc.")) {
        assertEquals(4, after.get(name).getDims(0), name);
      } else {
        assertEquals(before.get(name), after.get(name), name + " is kept");
      }
    }
    ModelFacts facts = ModelFacts.of(tuned);
    assertEquals(ModelFacts.of(model).parameters() - 6 * 65, facts.parameters(), "64·Δ weights + Δ biases");
  }

  @Test
  void newHeadOnATorchvisionExport() throws Exception {
    ModelProto resnet18 = ModelFactsTest.export("resnet18", 32, 10);
    ModelProto tuned = BuiltinModels.withNewHead(resnet18, 4, 0);
    assertArrayEquals(new long[] {1, 4}, logitsShape(tuned, "input", 1, 3, 32, 32), "exported with batch 1");
    // 11,689,512 with 1,000 classes; each class is 512 weights and a bias.
    assertEquals(11_689_512 - 996 * 513, ModelFacts.of(tuned).parameters());
    assertEquals(4, ForwardModel.prepare(tuned, 2).graph().outputs().values().iterator().next().dim(1));
  }

  @Test
  void newHeadNeedsAGemm() {
    ModelProto noGemm = ModelProto.newBuilder(BuiltinModels.create("resnet-cifar", 10, 3, 8, 8))
        .setGraph(BuiltinModels.create("resnet-cifar", 10, 3, 8, 8).getGraph().toBuilder()
            .removeNode(BuiltinModels.create("resnet-cifar", 10, 3, 8, 8).getGraph().getNodeCount() - 1))
        .build();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> BuiltinModels.withNewHead(noGemm, 3, 0));
    assertTrue(e.getMessage().contains("no Gemm"), e.getMessage());
  }

  static long[] logitsShape(ModelProto model, int n, int c, int h, int w) throws Exception {
    return logitsShape(model, BuiltinModels.INPUT, n, c, h, w);
  }

  static long[] logitsShape(ModelProto model, String inputName, int n, int c, int h, int w) throws Exception {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    float[] x = new float[n * c * h * w];
    Random random = new Random(0);
    for (int i = 0; i < x.length; i++) {
      x[i] = random.nextFloat();
    }
    try (OrtSession session = env.createSession(model.toByteArray());
         OnnxTensor input = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), new long[] {n, c, h, w});
         OrtSession.Result r = session.run(Map.of(inputName, input))) {
      float[][] logits = (float[][]) r.get(0).getValue();
      for (float[] row : logits) {
        for (float v : row) {
          assertTrue(Float.isFinite(v));
        }
      }
      return new long[] {logits.length, logits[0].length};
    }
  }

  private static long count(ModelProto model, String op) {
    return model.getGraph().getNodeList().stream().filter(n -> n.getOpType().equals(op)).count();
  }

  private static long groups(NodeProto n) {
    return n.getAttributeList().stream().filter(a -> a.getName().equals("group")).mapToLong(a -> a.getI())
        .findFirst().orElse(1);
  }

  private static Map<String, ai.onnx.proto.OnnxMl.TensorProto> initializers(ModelProto m) {
    Map<String, ai.onnx.proto.OnnxMl.TensorProto> map = new java.util.TreeMap<>();
    m.getGraph().getInitializerList().forEach(t -> map.put(t.getName(), t));
    return map;
  }
}
