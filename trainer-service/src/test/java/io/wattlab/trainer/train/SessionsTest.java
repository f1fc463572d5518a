package io.wattlab.trainer.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.Tensors;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Device selection (CUDA asked for on a build without it fails with a message that says what to do) and thread options. */
class SessionsTest {

  @Test
  void cudaWithoutTheGpuBuildIsAClearError() {
    Assumptions.assumeFalse(OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA),
        "this ONNX Runtime has CUDA");
    TrainingException e = assertThrows(TrainingException.class,
        () -> Sessions.open(new Graph(17).toModel(), new ExecutionConfig("cuda:0", 0)));
    assertTrue(e.getMessage().contains("cuda:0") && e.getMessage().contains("-Pcuda"), e.getMessage());
  }

  @Test
  void aDeviceNameOtherThanCpuOrCudaIsRejected() {
    assertThrows(IllegalArgumentException.class, () -> new ExecutionConfig("gpu", 0));
    assertThrows(IllegalArgumentException.class, () -> new ExecutionConfig("cuda:x", 0));
  }

  /** Spinning off is a session option ONNX Runtime accepts; the graph computes the same. */
  @Test
  void intraOpThreadsThatDoNotSpinComputeTheSame() throws Exception {
    Graph g = new Graph(17);
    g.addInput("x", new TensorType(Tensors.FLOAT, new long[] {2, 3}));
    new GraphBuilder(g, "").opInto("y", "Relu", List.of("x"));
    g.outputs().put("y", new TensorType(Tensors.FLOAT, new long[] {2, 3}));
    float[][] x = {{-1f, 2f, -3f}, {4f, -5f, 6f}};
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    for (boolean spinning : new boolean[] {true, false}) {
      ExecutionConfig config = ExecutionConfig.cpu(2).withIntraOpSpinning(spinning);
      assertEquals(spinning, config.intraOpSpinning());
      try (OrtSession session = Sessions.open(g.toModel(), config);
          OnnxTensor input = OnnxTensor.createTensor(env, x);
          OrtSession.Result result = session.run(Map.of("x", input))) {
        assertArrayEquals(new float[] {0f, 2f, 0f}, ((float[][]) result.get(0).getValue())[0]);
      }
    }
  }
}
