package io.wattlab.trainer.train;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.testing.RandomBatch;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import org.junit.jupiter.api.Test;

/**
 * Training throughput of the engine (images/s, batch 64, 32x32, SGD momentum) and graph-build
 * cost for ResNet-50. Runs only with -Dwattlab.bench=true (bench/training/run.sh).
 */
class TrainingBenchmark {
  private static final int BATCH = 64;
  private static final int REPEATS = 5;

  @Test
  void throughput() throws Exception {
    assumeTrue(Boolean.getBoolean("wattlab.bench"), "benchmark runs only with -Dwattlab.bench=true");
    int threads = Integer.getInteger("wattlab.bench.threads", 2);
    int steps = Integer.getInteger("wattlab.bench.steps", 4);
    for (String model : System.getProperty("wattlab.bench.models", "resnet18,mobilenet_v2").split(",")) {
      Reference ref = Reference.of(model, "--batch", String.valueOf(BATCH), "--export-only", "1");
      ForwardModel forward = ForwardModel.prepare(ref.model(), BATCH);
      TrainGraph graph = TrainStepBuilder.build(forward, TrainConfig.sgd(BATCH, 0.9));
      RandomBatch data = RandomBatch.of(BATCH, 3, 32, 32, 10, 0);
      float[] images = data.images();
      long[] labels = data.labels();
      try (Trainer t = new Trainer(graph, ExecutionConfig.cpu(threads))) {
        for (int i = 0; i < 3; i++) {
          t.step(images, labels, 0.01f);
        }
        // Best and median of repeated short runs: other jobs on a shared machine only ever slow a run down.
        double[] rates = new double[REPEATS];
        for (int r = 0; r < REPEATS; r++) {
          long start = System.nanoTime();
          for (int i = 0; i < steps; i++) {
            t.step(images, labels, 0.01f);
          }
          rates[r] = BATCH * steps / ((System.nanoTime() - start) / 1e9);
        }
        java.util.Arrays.sort(rates);
        System.out.printf("wattlab %s batch %d threads %d images_per_s best %.1f median %.1f%n", model, BATCH,
            threads, rates[REPEATS - 1], rates[REPEATS / 2]);
      }
    }
  }

  @Test
  void resnet50GraphBuild() throws Exception {
    assumeTrue(Boolean.getBoolean("wattlab.bench"), "benchmark runs only with -Dwattlab.bench=true");
    Reference ref = Reference.of("resnet50", "--batch", String.valueOf(BATCH), "--export-only", "1");
    ModelProto model = ref.model();
    for (int warm = 0; warm < 2; warm++) {
      System.gc();
      ManagementFactory.getMemoryPoolMXBeans().forEach(MemoryPoolMXBean::resetPeakUsage);
      long start = System.nanoTime();
      ForwardModel forward = ForwardModel.prepare(model, BATCH);
      TrainGraph graph = TrainStepBuilder.build(forward, TrainConfig.sgd(BATCH, 0.9));
      double seconds = (System.nanoTime() - start) / 1e9;
      long peak = ManagementFactory.getMemoryPoolMXBeans().stream()
          .filter(p -> p.getType() == MemoryType.HEAP).mapToLong(p -> p.getPeakUsage().getUsed()).sum();
      System.out.printf("wattlab resnet50 graph_build_s %.3f peak_heap_mib %.0f nodes %d (%s)%n", seconds,
          peak / 1048576.0, Graph.fromModel(graph.model()).nodes().size(), warm == 0 ? "cold JVM" : "warm JVM");
    }
  }
}
