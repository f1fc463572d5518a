package io.wattlab.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.Tensors;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Average pools as ReduceMean against ONNX Runtime's pooling kernels, and the pools left alone. */
class PoolsAsReductionsTest {
  @Test
  void tilingAndGlobalAveragePoolsGiveThePoolsOutputs() throws Exception {
    // 3x2 windows on 6x6 (2x3 of them), channels and batch above 1: a wrong Reshape order mixes them.
    Graph g = graph(new long[] {2, 3, 6, 6}, Map.of("kernel_shape", Attrs.ints("kernel_shape", 3, 2),
        "strides", Attrs.ints("strides", 3, 2)));
    g.addNode(new Node("gap", "GlobalAveragePool", "", List.of("x"), List.of("z"), Map.of()));
    g.outputs().put("z", new TensorType(Tensors.FLOAT, new long[] {2, 3, 1, 1}));
    Map<String, float[]> feeds = feeds(2 * 3 * 6 * 6);
    List<float[]> before = BroadcastShapesTest.run(g, feeds);
    assertEquals(2, PoolsAsReductions.rewrite(g));
    assertFalse(g.nodes().stream().anyMatch(n -> n.opType().endsWith("AveragePool")), g.nodes().toString());
    List<float[]> after = BroadcastShapesTest.run(g, feeds);
    for (int i = 0; i < before.size(); i++) {
      float[] b = before.get(i);
      for (int j = 0; j < b.length; j++) {
        assertEquals(b[j], after.get(i)[j], 1e-6 * Math.max(1, Math.abs(b[j])), "output " + i + " at " + j);
      }
    }
  }

  @Test
  void overlappingPaddedOrRaggedWindowsKeepTheirPool() {
    assertEquals(0, PoolsAsReductions.rewrite(graph(new long[] {1, 2, 6, 6}, Map.of("kernel_shape",
        Attrs.ints("kernel_shape", 3, 3), "strides", Attrs.ints("strides", 1, 1)))), "overlapping windows");
    assertEquals(0, PoolsAsReductions.rewrite(graph(new long[] {1, 2, 5, 5}, Map.of("kernel_shape",
        Attrs.ints("kernel_shape", 2, 2), "strides", Attrs.ints("strides", 2, 2)))), "5 is not divisible by 2");
    assertEquals(0, PoolsAsReductions.rewrite(graph(new long[] {1, 2, 4, 4}, Map.of(
        "kernel_shape", Attrs.ints("kernel_shape", 2, 2), "strides", Attrs.ints("strides", 2, 2),
        "pads", Attrs.ints("pads", 1, 1, 1, 1)))), "padded");
  }

  private static Graph graph(long[] x, Map<String, ai.onnx.proto.OnnxMl.AttributeProto> attrs) {
    Graph g = new Graph(14);
    g.addInput("x", new TensorType(Tensors.FLOAT, x));
    g.addNode(new Node("pool", "AveragePool", "", List.of("x"), List.of("y"), attrs));
    long[] k = attrs.get("kernel_shape").getIntsList().stream().mapToLong(Long::longValue).toArray();
    long[] s = attrs.get("strides").getIntsList().stream().mapToLong(Long::longValue).toArray();
    g.outputs().put("y", new TensorType(Tensors.FLOAT, new long[] {x[0], x[1], (x[2] - k[0]) / s[0] + 1,
        (x[3] - k[1]) / s[1] + 1}));
    return g;
  }

  private static Map<String, float[]> feeds(int n) {
    Random r = new Random(3);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) r.nextGaussian();
    }
    Map<String, float[]> m = new HashMap<>();
    m.put("x", v);
    return m;
  }
}
