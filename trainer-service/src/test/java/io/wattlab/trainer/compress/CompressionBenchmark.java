package io.wattlab.trainer.compress;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.micronaut.context.env.PropertySource;
import io.micronaut.context.env.PropertySourcePropertyResolver;
import io.wattlab.proto.v1.WindowEnergy;
import io.wattlab.trainer.compress.distill.DistillationPass;
import io.wattlab.trainer.compress.distill.Teacher;
import io.wattlab.trainer.data.ImageShape;
import io.wattlab.trainer.data.batch.Batch;
import io.wattlab.trainer.metering.EnergyMeter;
import io.wattlab.trainer.metering.EnergySummaries;
import io.wattlab.trainer.metering.InProcessMeter;
import io.wattlab.trainer.model.BuiltinModels;
import io.wattlab.trainer.testing.RandomBatch;
import io.wattlab.trainer.testing.TorchExports;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.ForwardModel;
import io.wattlab.trainer.train.TrainConfig;
import io.wattlab.trainer.train.TrainStepBuilder;
import io.wattlab.trainer.train.Trainer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * Time of each compression pass on torchvision resnet50 and vgg16 (224 px), and training step time
 * and energy per step of each technique against the uncompressed model (built-in resnet-cifar,
 * 32 px, batch 32, SGD momentum, CPU). Runs only with -Dwattlab.bench=true (bench/compress/run.sh).
 * Techniques this build lacks are skipped with a line saying so.
 */
class CompressionBenchmark {

  /** The configurations measured: technique and parameters. */
  static final List<Map.Entry<String, Map<String, String>>> CONFIGS = List.of(
      Map.entry("none", Map.of()),
      Map.entry("prune", Map.of("sparsity", "0.5")),
      Map.entry("prune_structured", Map.of("sparsity", "0.5")),
      Map.entry("low_rank", Map.of("rank_ratio", "0.5")),
      Map.entry("low_rank", Map.of("rank_ratio", "0.25")),
      Map.entry("mantissa", Map.of("bits", "16")),
      Map.entry("precision", Map.of("format", "bf16")),
      Map.entry("distill", Map.of("alpha", "0.5", "temperature", "4")));

  private static CompressionPass pass(Map.Entry<String, Map<String, String>> config) {
    if (!Techniques.names().contains(config.getKey())) {
      System.out.printf("bench %s: not in this build%n", config.getKey());
      return null;
    }
    return Techniques.create(config.getKey(), config.getValue());
  }

  @Test
  void passTimes() throws Exception {
    assumeTrue(Boolean.getBoolean("wattlab.bench"), "benchmark runs only with -Dwattlab.bench=true");
    for (String model : System.getProperty("wattlab.bench.models", "resnet50,vgg16").split(",")) {
      ModelProto m = TorchExports.model(model, 224, 1000);
      for (var config : CONFIGS) {
        CompressionPass pass = pass(config);
        if (pass == null || pass.technique().equals("none")) {
          continue;
        }
        PassReport report = PassReport.run(pass, m).report();
        System.out.printf("bench pass %s %s %s seconds %.2f parameters %d -> %d nonzero %d -> %d macs %d -> %d%n",
            model, pass.technique(), PassReport.canonical(report.parameters()), report.passSeconds(),
            report.before().parameters(), report.after().parameters(), report.before().nonZeroParameters(),
            report.after().nonZeroParameters(), report.before().macsPerImage(), report.after().macsPerImage());
      }
    }
  }

  @Test
  void trainingStepTimeAndEnergy() throws Exception {
    assumeTrue(Boolean.getBoolean("wattlab.bench"), "benchmark runs only with -Dwattlab.bench=true");
    int batch = 32;
    int steps = Integer.getInteger("wattlab.bench.steps", 20);
    int threads = Integer.getInteger("wattlab.bench.threads", 2);
    ModelProto base = BuiltinModels.create("resnet-cifar", 10, 3, 32, 32, 0);
    RandomBatch data = RandomBatch.of(batch, 3, 32, 32, 10, 0);
    float[] images = data.images();
    long[] labels = data.labels();
    int[] indices = IntStream.range(0, batch).toArray();
    Map<String, Object> settings = new LinkedHashMap<>();
    settings.put("wattlab.nvml.enabled", "false");
    try (EnergyMeter meter = InProcessMeter.start(new PropertySourcePropertyResolver(
        PropertySource.of("bench", settings)))) {
      System.out.printf("bench meter %s%n", meter.describe());
      for (int round = 0; round < 2; round++) {
        for (var config : CONFIGS) {
          CompressionPass pass = pass(config);
          if (pass == null) {
            continue;
          }
          Compressed c = pass.apply(base);
          ForwardModel forward = ForwardModel.prepare(c.model(), batch);
          TrainConfig trainConfig = TrainConfig.sgd(batch, 0.9);
          // Distillation: the teacher (the uncompressed model) runs on every batch, as it does when
          // the images are augmented; without augmentation its logits are computed once per image.
          Teacher teacher = null;
          if (pass instanceof DistillationPass d) {
            trainConfig = trainConfig.withDistillation(d.loss());
            teacher = Teacher.open(base, DistillationPass.RUN_MODEL, forward, batch, false, ExecutionConfig.cpu(threads));
          }
          Batch b = new Batch(0, 0, images, labels, new ImageShape(3, 32, 32), indices);
          try (Trainer t = new Trainer(TrainStepBuilder.build(forward, trainConfig), ExecutionConfig.cpu(threads));
              Teacher closing = teacher) {
            t.constrain(new ArrayList<>(c.constraints()));
            Teacher teach = teacher;
            Runnable step = () -> {
              if (teach == null) {
                t.step(images, labels, 0.01f);
              } else {
                t.step(images, labels, teach.logits(b), 0.01f);
              }
            };
            for (int i = 0; i < 3; i++) {
              step.run();
            }
            EnergyMeter.Window w = meter.begin(Map.of("bench", pass.technique()));
            long start = System.nanoTime();
            for (int i = 0; i < steps; i++) {
              step.run();
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            WindowEnergy e = meter.end(w);
            double joules = EnergySummaries.of(e, 0).getEnergyJoules();
            System.out.printf("bench step round %d %s %s ms_per_step %.1f joules_per_step %.2f measured_fraction %.2f%n",
                round + 1, pass.technique(), PassReport.canonical(pass.parameters().asMap()),
                seconds * 1000 / steps, joules / steps, EnergySummaries.of(e, 0).getMeasuredFraction());
          }
        }
      }
    }
  }
}
