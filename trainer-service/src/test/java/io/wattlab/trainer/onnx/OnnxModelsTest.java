package io.wattlab.trainer.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.graph.Graph;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Model files and tensors survive a write and a read unchanged. */
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
}
