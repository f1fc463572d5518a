package io.wattlab.trainer.train;

/**
 * Where and how ONNX Runtime executes a graph: device "cpu" or "cuda:N", the number of intra-op
 * threads (0 lets ONNX Runtime choose), and whether those threads spin while they wait for work
 * ({@code session.intra_op.allow_spinning}; by default as {@link #spinningByDefault} says).
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

  /** Threads that spin or not as {@link #spinningByDefault} says for their number. */
  public ExecutionConfig(String device, int intraOpThreads) {
    this(device, intraOpThreads, spinningByDefault(intraOpThreads));
  }

  /**
   * Spinning stays on (ONNX Runtime's default) only where the intra-op threads leave a processor
   * free. 0 counts as taking every one: ONNX Runtime then starts a thread per physical core, which
   * is every processor where there is no SMT (and, conservatively, is assumed so where there is).
   * Where they take every processor, a spinning worker never yields its processor, the process's
   * other threads (batch loading, the meter, the JVM's) preempt workers mid-operator instead, and on
   * a 2-vCPU machine training throughput was seen to halve for seconds at a time: 3 epochs took
   * 31.5–48.4 s spinning, 25.8–27.8 s not (docs/BENCHMARKS.md).
   */
  public static boolean spinningByDefault(int intraOpThreads) {
    return intraOpThreads > 0 && intraOpThreads < Runtime.getRuntime().availableProcessors();
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
