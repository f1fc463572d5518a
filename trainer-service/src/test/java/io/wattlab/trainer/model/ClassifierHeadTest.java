package io.wattlab.trainer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.wattlab.proto.v1.ModelSpec;
import io.wattlab.trainer.data.ImageShape;
import io.wattlab.trainer.execute.FileModelSource;
import io.wattlab.trainer.execute.ModelSourceException;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.testing.TorchExports;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ClassifierHeadTest {

  @Test
  void aTorchvisionResnetGetsAThreeWayHeadAndKeepsEverythingElse() throws Exception {
    ModelProto original = TorchExports.model("resnet18", 32, 10);
    ModelProto three = ClassifierHead.replace(original, 3, 0);
    assertEquals(3, ClassifierHead.classes(three));
    Map<String, TensorProto> before = Graph.fromModel(original).initializers();
    Map<String, TensorProto> after = Graph.fromModel(three).initializers();
    assertEquals(before.keySet(), after.keySet());
    TensorProto fcWeight = after.get("fc.weight");
    assertArrayEquals(new long[] {3, 512}, Tensors.dims(fcWeight));
    float bound = (float) (1 / Math.sqrt(512));
    for (float v : Tensors.toFloats(fcWeight)) {
      assertTrue(Math.abs(v) <= bound, "weight within PyTorch's Linear initialisation bound");
    }
    before.forEach((name, t) -> {
      if (!name.startsWith("fc.")) {
        assertEquals(t, after.get(name), name + " is untouched");
      }
    });
    float[] logits = run(three, new long[] {1, 3, 32, 32});
    assertEquals(3, logits.length);
    assertSame(original, ClassifierHead.replace(original, 10, 0), "a head of the right width stays");
  }

  @Test
  void aMatMulWithABiasAddIsReplacedAndAnythingElseIsNamed() throws Exception {
    Graph g = new Graph(17);
    g.addInput("x", new TensorType(Tensors.FLOAT, new long[] {1, 4}));
    GraphBuilder b = new GraphBuilder(g, "");
    g.addInitializer(Tensors.floats("w", new long[] {4, 5}, new float[20]));
    g.addInitializer(Tensors.floats("bias", new long[] {5}, new float[5]));
    b.opInto("logits", "Add", java.util.List.of(b.matmul("x", "w"), "bias"));
    g.outputs().put("logits", new TensorType(Tensors.FLOAT, new long[] {1, 5}));
    ModelProto two = ClassifierHead.replace(g.toModel(), 2, 0);
    assertEquals(2, run(two, new long[] {1, 4}).length);

    Graph relu = new Graph(17);
    relu.addInput("x", new TensorType(Tensors.FLOAT, new long[] {1, 4}));
    new GraphBuilder(relu, "").opInto("logits", "Relu", java.util.List.of("x"));
    relu.outputs().put("logits", new TensorType(Tensors.FLOAT, new long[] {1, 4}));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ClassifierHead.replace(relu.toModel(), 2, 0));
    assertTrue(e.getMessage().startsWith("cannot replace the classifier head: output logits comes from node"),
        e.getMessage());
    assertTrue(e.getMessage().contains("(Relu)"), e.getMessage());
  }

  @Test
  void theFileSourceReplacesTheHeadWhenNumClassesIsSet() throws Exception {
    Path file = TorchExports.file("resnet18", 32, 10);
    ModelSpec spec = ModelSpec.newBuilder().setOnnxPath(file.toString()).setNumClasses(4).build();
    ModelProto model = new FileModelSource().load(spec, 4, new ImageShape(3, 32, 32));
    assertEquals(4, ClassifierHead.classes(model));
    ModelProto kept = new FileModelSource().load(spec.toBuilder().setNumClasses(0).build(), 4,
        new ImageShape(3, 32, 32));
    assertEquals(10, ClassifierHead.classes(kept));
    ModelSourceException e = assertThrows(ModelSourceException.class, () -> new FileModelSource().load(
        ModelSpec.newBuilder().setOnnxPath(reluModel().toString()).setNumClasses(2).build(), 2, new ImageShape(1, 1, 4)));
    assertTrue(e.getMessage().contains("model.num_classes 2: cannot replace the classifier head"), e.getMessage());
  }

  private static Path reluModel() throws Exception {
    Graph relu = new Graph(17);
    relu.addInput("x", new TensorType(Tensors.FLOAT, new long[] {1, 4}));
    new GraphBuilder(relu, "").opInto("logits", "Relu", java.util.List.of("x"));
    relu.outputs().put("logits", new TensorType(Tensors.FLOAT, new long[] {1, 4}));
    Path p = java.nio.file.Files.createTempFile("relu", ".onnx");
    io.wattlab.trainer.onnx.OnnxModels.write(relu.toModel(), p);
    return p;
  }

  private static float[] run(ModelProto model, long[] dims) throws Exception {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    int n = (int) Tensors.numel(dims);
    float[] input = new float[n];
    Random r = new Random(1);
    for (int i = 0; i < n; i++) {
      input[i] = (float) r.nextGaussian();
    }
    try (OrtSession s = env.createSession(model.toByteArray());
         OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(input), dims);
         OrtSession.Result out = s.run(Map.of(s.getInputNames().iterator().next(), x))) {
      FloatBuffer fb = ((OnnxTensor) out.get(0)).getFloatBuffer();
      float[] v = new float[fb.remaining()];
      fb.get(v);
      return v;
    }
  }
}
