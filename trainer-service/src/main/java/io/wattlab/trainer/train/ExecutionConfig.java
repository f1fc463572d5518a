package io.wattlab.trainer.train;

/**
 * Where and how ONNX Runtime executes a graph: device "cpu" or "cuda:N", and the number of
 * intra-op threads (0 lets ONNX Runtime choose).
 */
public record ExecutionConfig(String device, int intraOpThreads) {

  public ExecutionConfig {
    if (!device.equals("cpu") && !device.matches("cuda:\\d+")) {
      throw new IllegalArgumentException("device must be cpu or cuda:N, got " + device);
    }
    if (intraOpThreads < 0) {
      throw new IllegalArgumentException("intraOpThreads must be >= 0, got " + intraOpThreads);
    }
  }

  public static ExecutionConfig cpu(int intraOpThreads) {
    return new ExecutionConfig("cpu", intraOpThreads);
  }

  public boolean isCuda() {
    return device.startsWith("cuda:");
  }

  public int cudaDeviceId() {
    return Integer.parseInt(device.substring("cuda:".length()));
  }
}
