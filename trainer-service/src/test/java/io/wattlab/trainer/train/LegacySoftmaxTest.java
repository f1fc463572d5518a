package io.wattlab.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.Tensors;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Opset 11 Softmax and LogSoftmax normalise over everything from their axis on; the upgrade to 13
 * keeps that meaning. Checked against the opset-11 definition computed here.
 */
class LegacySoftmaxTest {
  @Test
  void anAxisBeforeTheLastNormalisesTheFlattenedTailAndTheLastAxisIsKept() throws Exception {
    // x [2, 3, 4] -> Softmax(axis 1): each image's 12 values sum to 1 -> LogSoftmax(axis 2): rows of 4.
    Graph g = new Graph(11);
    g.addInput("x", new TensorType(Tensors.FLOAT, new long[] {2, 3, 4}));
    g.addNode(new Node("softmax", "Softmax", "", List.of("x"), List.of("p"), Map.of("axis", Attrs.i("axis", 1))));
    g.addNode(new Node("logsoftmax", "LogSoftmax", "", List.of("p"), List.of("y"), Map.of("axis", Attrs.i("axis", -1))));
    g.outputs().put("y", new TensorType(Tensors.FLOAT, new long[] {2, 3, 4}));
    ForwardModel forward = ForwardModel.prepare(g.toModel(), 2);

    float[] x = new float[24];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) Math.sin(1.7 * i);
    }
    float[] actual;
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession s = Sessions.open(forward.copyOfGraph().toModel(), ExecutionConfig.cpu(1));
        OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), new long[] {2, 3, 4});
        OrtSession.Result r = s.run(Map.of("x", in))) {
      FloatBuffer out = ((OnnxTensor) r.get(0)).getFloatBuffer();
      actual = new float[out.remaining()];
      out.get(actual);
    }
    double[] p = new double[24];
    for (int image = 0; image < 2; image++) {
      double sum = 0;
      for (int i = 0; i < 12; i++) {
        sum += Math.exp(x[image * 12 + i]);
      }
      for (int i = 0; i < 12; i++) {
        p[image * 12 + i] = Math.exp(x[image * 12 + i]) / sum;
      }
    }
    for (int row = 0; row < 6; row++) {
      double sum = 0;
      for (int i = 0; i < 4; i++) {
        sum += Math.exp(p[row * 4 + i]);
      }
      for (int i = 0; i < 4; i++) {
        double expected = p[row * 4 + i] - Math.log(sum);
        assertEquals(expected, actual[row * 4 + i], 1e-6, "y at " + (row * 4 + i));
      }
    }
  }
}
