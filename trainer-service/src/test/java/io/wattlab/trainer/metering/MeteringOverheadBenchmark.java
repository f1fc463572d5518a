package io.wattlab.trainer.metering;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.micronaut.context.env.PropertySource;
import io.micronaut.context.env.PropertySourcePropertyResolver;
import io.wattlab.trainer.model.BuiltinModels;
import io.wattlab.trainer.testing.RandomBatch;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.ForwardModel;
import io.wattlab.trainer.train.TrainConfig;
import io.wattlab.trainer.train.TrainStepBuilder;
import io.wattlab.trainer.train.Trainer;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * What the in-process meter costs training, measured inside one JVM so that the run-to-run spread
 * of separate runs (tens of percent on a shared 2-core machine) does not drown a figure of about
 * one percent: one trainer session runs blocks of training steps, alternately with the meter
 * sampling every sensor and with no meter at all, in the order on, off, off, on, on, off, off, on...
 * (so that a drift in the machine's speed falls on both arms alike). Each group of four blocks,
 * (on, off, off, on), gives one overhead figure, (on + on) / (off + off) − 1: within a group a
 * linear drift cancels, where a single neighbouring (on, off) pair keeps it (and the blocks at the
 * four positions of the cycle were seen to differ by position, metered or not). The summary is
 * the groups' mean with a 95 % confidence interval (Student's t), and their median with a
 * distribution-free 95 % interval (order statistics), which a block slowed by other work on the
 * machine cannot drag.
 *
 * <p>Runs only with -Dwattlab.bench=true (bench/trainer/run.sh, which also makes the fake NVML
 * library and powercap tree). The meter is configured by the {@code wattlab.*} system properties
 * given (e.g. -Dwattlab.rapl.root=...), as the trainer's configuration would be.
 */
class MeteringOverheadBenchmark {

  private static final int BATCH = 32;
  private static final long SETTLE_MILLIS = 500;

  /** Student's t, two-sided 95 %, for 1 to 30 degrees of freedom; 1.96 beyond. */
  private static final double[] T_975 = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262,
      2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069,
      2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};

  private record Block(int index, boolean metered, double secondsPerStep, double meterThreadCpuSeconds,
                       double wallSeconds) {
  }

  @Test
  void stepTimeWithAndWithoutTheInProcessMeter() throws Exception {
    assumeTrue(Boolean.getBoolean("wattlab.bench"), "benchmark runs only with -Dwattlab.bench=true");
    int threads = Integer.getInteger("wattlab.bench.threads", 2);
    int blocks = Integer.getInteger("wattlab.bench.blocks", 40);
    int stepsPerBlock = Integer.getInteger("wattlab.bench.block-steps", 10);
    if (blocks < 8 || blocks % 4 != 0) {
      throw new IllegalArgumentException("wattlab.bench.blocks must be a multiple of 4 and at least 8, got " + blocks);
    }
    Map<String, Object> meterSettings = meterSettings();
    System.out.printf("bench overhead settings %s threads %d spinning %s blocks %d steps_per_block %d batch %d%n",
        meterSettings, threads, ExecutionConfig.spinningByDefault(threads), blocks, stepsPerBlock, BATCH);

    ModelProto model = BuiltinModels.create("resnet-cifar", 10, 3, 32, 32, 0);
    RandomBatch data = RandomBatch.of(BATCH, 3, 32, 32, 10, 0);
    float[] images = data.images();
    long[] labels = data.labels();
    ThreadMXBean threadBean = ManagementFactory.getThreadMXBean();
    List<Block> results = new ArrayList<>();
    // As a run would have it: spinning only where the threads leave a processor free.
    ExecutionConfig execution = ExecutionConfig.cpu(threads);
    try (Trainer trainer = new Trainer(TrainStepBuilder.build(ForwardModel.prepare(model, BATCH),
        TrainConfig.sgd(BATCH, 0.9)), execution)) {
      // Warm-up, with the meter on so that its code is compiled before the first timed block too.
      try (EnergyMeter warmUp = InProcessMeter.start(new PropertySourcePropertyResolver(
          PropertySource.of("bench", meterSettings)))) {
        System.out.printf("bench overhead meter %s%n", warmUp.describe());
        for (int i = 0; i < 2 * stepsPerBlock; i++) {
          trainer.step(images, labels, 0.01f);
        }
      }
      for (int b = 0; b < blocks; b++) {
        boolean metered = b % 4 == 0 || b % 4 == 3;
        EnergyMeter meter = metered ? InProcessMeter.start(new PropertySourcePropertyResolver(
            PropertySource.of("bench", meterSettings))) : null;
        try {
          // Both arms wait alike; the metered one lets the sampler threads start and read once.
          Thread.sleep(SETTLE_MILLIS);
          double meterCpuBefore = meterThreadCpuSeconds(threadBean);
          long start = System.nanoTime();
          for (int i = 0; i < stepsPerBlock; i++) {
            trainer.step(images, labels, 0.01f);
          }
          double wall = (System.nanoTime() - start) / 1e9;
          double meterCpu = meterThreadCpuSeconds(threadBean) - meterCpuBefore;
          Block block = new Block(b, metered, wall / stepsPerBlock, meterCpu, wall);
          results.add(block);
          System.out.printf("bench overhead block %d %s ms_per_step %.3f meter_threads_cpu_ms %.1f%n",
              b, metered ? "on" : "off", block.secondsPerStep() * 1000, meterCpu * 1000);
        } finally {
          if (meter != null) {
            meter.close();
          }
        }
      }
    }
    summarize(results);
  }

  /** Every wattlab.* system property except the benchmark's own: the meter's configuration. */
  private static Map<String, Object> meterSettings() {
    Map<String, Object> settings = new LinkedHashMap<>();
    System.getProperties().stringPropertyNames().stream().sorted()
        .filter(name -> name.startsWith("wattlab.") && !name.startsWith("wattlab.bench")
            && !name.startsWith("wattlab.test"))
        .forEach(name -> settings.put(name, System.getProperty(name)));
    return settings;
  }

  /** CPU time of the meter's sampler threads (named meter-SENSOR), alive now. */
  private static double meterThreadCpuSeconds(ThreadMXBean threadBean) {
    long nanos = 0;
    for (Thread thread : Thread.getAllStackTraces().keySet()) {
      if (thread.getName().startsWith("meter-")) {
        nanos += Math.max(0, threadBean.getThreadCpuTime(thread.getId()));
      }
    }
    return nanos / 1e9;
  }

  private static void summarize(List<Block> blocks) {
    int groups = blocks.size() / 4;
    double[] overheads = new double[groups];
    for (int q = 0; q < groups; q++) {
      double on = blocks.get(4 * q).secondsPerStep() + blocks.get(4 * q + 3).secondsPerStep();
      double off = blocks.get(4 * q + 1).secondsPerStep() + blocks.get(4 * q + 2).secondsPerStep();
      overheads[q] = on / off - 1;
    }
    double mean = Arrays.stream(overheads).average().orElse(Double.NaN);
    double variance = Arrays.stream(overheads).map(x -> (x - mean) * (x - mean)).sum() / (groups - 1);
    double halfWidth = (groups - 1 <= T_975.length ? T_975[groups - 2] : 1.96) * Math.sqrt(variance / groups);
    double[] sorted = overheads.clone();
    Arrays.sort(sorted);
    double median = groups % 2 == 1 ? sorted[groups / 2] : (sorted[groups / 2 - 1] + sorted[groups / 2]) / 2;
    // A confidence interval for the median that assumes nothing about the spread (a block slowed by
    // other work on the machine is an outlier the mean cannot shrug off): the order statistics
    // x(k) and x(n+1-k), with k the largest for which P(Binomial(n, 1/2) < k) <= 2.5 %.
    int k = 0;
    while (binomialBelow(groups, k + 1) <= 0.025) {
      k++;
    }
    double medianLow = k >= 1 ? sorted[k - 1] : Double.NEGATIVE_INFINITY;
    double medianHigh = k >= 1 ? sorted[groups - k] : Double.POSITIVE_INFINITY;
    double onMs = blocks.stream().filter(Block::metered).mapToDouble(Block::secondsPerStep).average().orElse(0) * 1000;
    double offMs = blocks.stream().filter(b -> !b.metered()).mapToDouble(Block::secondsPerStep).average().orElse(0) * 1000;
    double meterCpu = blocks.stream().filter(Block::metered).mapToDouble(Block::meterThreadCpuSeconds).sum();
    double meterWall = blocks.stream().filter(Block::metered).mapToDouble(Block::wallSeconds).sum();
    System.out.printf("bench overhead summary groups %d mean_ms_per_step_on %.3f off %.3f overhead_percent_mean %.3f"
            + " ci95 %.3f %.3f median %.3f median_ci95 %.3f %.3f meter_threads_percent_of_one_core %.3f%n",
        groups, onMs, offMs, 100 * mean, 100 * (mean - halfWidth), 100 * (mean + halfWidth), 100 * median,
        100 * medianLow, 100 * medianHigh, 100 * meterCpu / meterWall);
  }

  /** P(X < k) for X ~ Binomial(n, 1/2). */
  private static double binomialBelow(int n, int k) {
    double sum = 0;
    double term = Math.pow(0.5, n);  // P(X = 0)
    for (int i = 0; i < k; i++) {
      sum += term;
      term = term * (n - i) / (i + 1);
    }
    return sum;
  }
}
