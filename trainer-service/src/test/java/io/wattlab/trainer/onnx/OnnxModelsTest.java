package io.wattlab.trainer.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.TensorType;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Model files, graphs and tensors survive a write and a read unchanged. */
class OnnxModelsTest {

  @Test
  void tensorsRoundTripThroughRawData() {
    TensorProto f = Tensors.floats("w", new long[] {2, 2}, new float[] {1.5f, -2f, 0f, 3.25f});
    assertArrayEquals(new float[] {1.5f, -2f, 0f, 3.25f}, Tensors.toFloats(f));
    assertArrayEquals(new long[] {2, 2}, Tensors.dims(f));
    TensorProto l = Tensors.longs("s", new long[] {3}, new long[] {4, -1, 7});
    assertArrayEquals(new long[] {4, -1, 7}, Tensors.toLongs(l));
    TensorProto typed = TensorProto.newBuilder().setName("t").setDataType(Tensors.FLOAT).addDims(2)
        .addFloatData(0.5f).addFloatData(1.5f).build();
    assertArrayEquals(new double[] {0.5, 1.5}, Tensors.toDoubles(typed));
  }

  @Test
  void aGraphWrittenAndReadBackIsTheSameModel(@TempDir Path dir) {
    Graph g = new Graph(17);
    g.addInput("x", new io.wattlab.trainer.graph.TensorType(Tensors.FLOAT, new long[] {-1, 4}));
    g.addInitializer(Tensors.floats("w", new long[] {4, 3}, new float[12]));
    new io.wattlab.trainer.graph.GraphBuilder(g, "").opInto("y", "MatMul", java.util.List.of("x", "w"));
    g.outputs().put("y", new io.wattlab.trainer.graph.TensorType(Tensors.FLOAT, new long[] {-1, 3}));
    ModelProto model = g.toModel();
    Path file = dir.resolve("m.onnx");
    OnnxModels.write(model, file);
    ModelProto back = OnnxModels.read(file);
    assertEquals(model, back);
    assertEquals(17, OnnxModels.defaultOpset(back));
    Graph again = Graph.fromModel(back);
    assertEquals(-1, again.inputs().get("x").dim(0));
    assertEquals(1, again.nodes().size());
  }

  /**
   * A node of another domain (ONNX Runtime's com.microsoft FusedMatMul: alpha * A * B) needs its
   * opset import: a graph read and written back keeps it, and the model's metadata, and still runs.
   */
  @Test
  void opsetImportsOfOtherDomainsAndMetadataSurviveAGraphRoundTrip() throws Exception {
    Graph g = new Graph(17);
    g.addInput("a", new TensorType(Tensors.FLOAT, new long[] {1, 2}));
    g.addInitializer(Tensors.floats("b", new long[] {2, 1}, new float[] {3f, 4f}));
    AttributeProto alpha = AttributeProto.newBuilder().setName("alpha").setType(AttributeProto.AttributeType.FLOAT)
        .setF(2f).build();
    g.nodes().add(new Node("fused", "FusedMatMul", "com.microsoft", List.of("a", "b"), List.of("y"),
        Map.of("alpha", alpha)));
    g.outputs().put("y", new TensorType(Tensors.FLOAT, new long[] {1, 1}));
    ModelProto original = g.toModel().toBuilder()
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1))
        .addMetadataProps(StringStringEntryProto.newBuilder().setKey("source").setValue("test"))
        .build();

    ModelProto back = Graph.fromModel(original).toModel();

    assertEquals(original.getOpsetImportList(), back.getOpsetImportList());
    assertEquals(original.getMetadataPropsList(), back.getMetadataPropsList());
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession session = env.createSession(back.toByteArray());
        OnnxTensor a = OnnxTensor.createTensor(env, new float[][] {{1f, 2f}});
        OrtSession.Result result = session.run(Map.of("a", a))) {
      assertEquals(2f * (1f * 3f + 2f * 4f), ((float[][]) result.get(0).getValue())[0][0]);
    }
  }
}
