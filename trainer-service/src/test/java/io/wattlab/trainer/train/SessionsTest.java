package io.wattlab.trainer.train;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtProvider;
import io.wattlab.trainer.graph.Graph;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Device selection: CUDA asked for on a build without it fails with a message that says what to do. */
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
}
