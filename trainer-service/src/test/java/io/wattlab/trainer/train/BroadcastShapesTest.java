package io.wattlab.trainer.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.Tensors;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The broadcast reshapes leave every value as it was (bitwise) and only touch broadcasting nodes. */
class BroadcastShapesTest {

  @Test
  void scalarTimesATensorWithTrailingOnesIsComputedFlat() throws Exception {
    Graph g = graph(new long[] {6, 4, 1, 1}, new long[0], "Mul");
    assertEquals(1, sameOutputs(g));
    assertEquals(List.of("Reshape", "Mul", "Reshape"), ops(g), "the 4-D operand is viewed as [6, 4]");
  }

  @Test
  void perChannelFactorOnASmallMapIsExpandedOverTheMap() throws Exception {
    Graph g = graph(new long[] {3, 5, 2, 2}, new long[] {1, 5, 1, 1}, "Add");
    assertEquals(1, sameOutputs(g));
    assertEquals(List.of("Expand", "Add"), ops(g));
    Graph where = new Graph(17);
    where.addInput("x", new TensorType(Tensors.FLOAT, new long[] {3, 4, 1, 1}));
    GraphBuilder b = new GraphBuilder(where, "t/");
    String mask = b.greater("x", b.scalar(0, Tensors.FLOAT));
    where.outputs().put(b.where(mask, "x", b.scalar(0, Tensors.FLOAT)), new TensorType(Tensors.FLOAT,
        new long[] {3, 4, 1, 1}));
    assertEquals(2, sameOutputs(where), "Greater and Where, each with a scalar");
  }

  @Test
  void largeMapsAndEqualShapesAreLeftAlone() throws Exception {
    assertEquals(0, sameOutputs(graph(new long[] {2, 3, 16, 16}, new long[] {1, 3, 1, 1}, "Sub")));
    assertEquals(0, sameOutputs(graph(new long[] {2, 3, 4, 4}, new long[] {2, 3, 4, 4}, "Mul")));
    assertEquals(0, sameOutputs(graph(new long[] {64, 960}, new long[] {1, 960}, "Mul")));
  }

  @Test
  void expandedShapeKeepsOnlyLeadingBroadcast() {
    assertArrayEquals(new long[] {576, 2, 2}, BroadcastShapes.expandedShape(new long[] {1, 576, 1, 1},
        new long[] {64, 576, 2, 2}));
    assertArrayEquals(new long[] {5, 4}, BroadcastShapes.expandedShape(new long[] {5, 1}, new long[] {8, 5, 4}));
    assertNull(BroadcastShapes.expandedShape(new long[0], new long[] {8, 5}), "a scalar broadcasts fast");
    assertNull(BroadcastShapes.expandedShape(new long[] {1, 96, 1, 1}, new long[] {64, 96, 16, 16}),
        "16x16 blocks are long enough");
    assertNull(BroadcastShapes.expandedShape(new long[] {8, 1, 1}, new long[] {8, 2, 2}),
        "nothing would be left to broadcast over leading axes");
  }

  private static Graph graph(long[] a, long[] b, String op) {
    Graph g = new Graph(17);
    g.addInput("a", new TensorType(Tensors.FLOAT, a));
    g.addInput("b", new TensorType(Tensors.FLOAT, b));
    long[] out = io.wattlab.trainer.graph.ShapeInference.broadcast(a, b);
    g.addNode(new Node("n", op, "", List.of("a", "b"), List.of("y"), Map.of()));
    g.outputs().put("y", new TensorType(Tensors.FLOAT, out));
    return g;
  }

  private static List<String> ops(Graph g) {
    return g.nodes().stream().map(Node::opType).toList();
  }

  /** Runs the graph before and after the rewrite, checks the outputs are bitwise equal; returns the nodes changed. */
  private static int sameOutputs(Graph g) throws Exception {
    Map<String, float[]> feeds = new LinkedHashMap<>();
    Random random = new Random(3);
    for (var e : g.inputs().entrySet()) {
      float[] v = new float[(int) Tensors.numel(e.getValue().dims())];
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) random.nextGaussian();
      }
      feeds.put(e.getKey(), v);
    }
    List<float[]> before = run(g, feeds);
    int changed = BroadcastShapes.apply(g);
    List<float[]> after = run(g, feeds);
    for (int i = 0; i < before.size(); i++) {
      assertArrayEquals(before.get(i), after.get(i), "output " + i);
    }
    return changed;
  }

  static List<float[]> run(Graph g, Map<String, float[]> feeds) throws Exception {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    Map<String, OnnxTensor> in = new LinkedHashMap<>();
    for (var e : feeds.entrySet()) {
      in.put(e.getKey(), OnnxTensor.createTensor(env, FloatBuffer.wrap(e.getValue()), g.inputs().get(e.getKey()).dims()));
    }
    try (OrtSession s = Sessions.open(g.toModel(), ExecutionConfig.cpu(1)); OrtSession.Result r = s.run(in)) {
      List<float[]> out = new java.util.ArrayList<>();
      for (String name : g.outputs().keySet()) {
        FloatBuffer buf = ((OnnxTensor) r.get(name).orElseThrow()).getFloatBuffer();
        float[] v = new float[buf.remaining()];
        buf.get(v);
        out.add(v);
      }
      return out;
    } finally {
      in.values().forEach(OnnxTensor::close);
    }
  }
}
