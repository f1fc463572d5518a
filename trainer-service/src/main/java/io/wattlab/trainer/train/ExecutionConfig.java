package io.wattlab.trainer.train;

/**
 * Where and how ONNX Runtime executes a graph: device "cpu" or "cuda:N", the number of intra-op
 * threads (0 lets ONNX Runtime choose), and whether those threads spin while they wait for work
 * (ONNX Runtime's default; {@code session.intra_op.allow_spinning}).
 */
public record ExecutionConfig(String device, int intraOpThreads, boolean intraOpSpinning) {

  public ExecutionConfig {
    if (!device.equals("cpu") && !device.matches("cuda:\\d+")) {
      throw new IllegalArgumentException("device must be cpu or cuda:N, got " + device);
    }
    if (intraOpThreads < 0) {
      throw new IllegalArgumentException("intraOpThreads must be >= 0, got " + intraOpThreads);
    }
  }

  /** With ONNX Runtime's default, spinning threads. */
  public ExecutionConfig(String device, int intraOpThreads) {
    this(device, intraOpThreads, true);
  }

  public static ExecutionConfig cpu(int intraOpThreads) {
    return new ExecutionConfig("cpu", intraOpThreads);
  }

  public ExecutionConfig withIntraOpSpinning(boolean spinning) {
    return new ExecutionConfig(device, intraOpThreads, spinning);
  }

  public boolean isCuda() {
    return device.startsWith("cuda:");
  }

  public int cudaDeviceId() {
    return Integer.parseInt(device.substring("cuda:".length()));
  }
}
