package io.wattlab.trainer.compress.quantize;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.micronaut.context.env.PropertySource;
import io.micronaut.context.env.PropertySourcePropertyResolver;
import io.wattlab.proto.v1.EnergySummary;
import io.wattlab.trainer.compress.ActivationRanges;
import io.wattlab.trainer.compress.CalibratedPass;
import io.wattlab.trainer.compress.PassReport;
import io.wattlab.trainer.compress.Techniques;
import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetSpec;
import io.wattlab.trainer.data.Datasets;
import io.wattlab.trainer.metering.EnergyMeter;
import io.wattlab.trainer.metering.EnergySummaries;
import io.wattlab.trainer.metering.InProcessMeter;
import io.wattlab.trainer.model.BuiltinModels;
import io.wattlab.trainer.testing.TorchExports;
import io.wattlab.trainer.train.ExecutionConfig;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Inference latency and energy per 1,000 images of fp32 against static and dynamic int8 (CPU,
 * batch 32, 32 px: built-in resnet-cifar, torchvision resnet18 and mobilenet_v2), and the
 * quantize pass's time on resnet50 and vgg16 (224 px). Runs only with -Dwattlab.bench=true
 * (bench/compress/run.sh); random weights and synthetic images, since only time and energy count.
 */
class QuantizeBenchmark {

  private static final int BATCH = 32;

  @Test
  void inferenceTimeAndEnergy() throws Exception {
    assumeTrue(Boolean.getBoolean("wattlab.bench"), "benchmark runs only with -Dwattlab.bench=true");
    int threads = Integer.getInteger("wattlab.bench.threads", 2);
    int batches = Integer.getInteger("wattlab.bench.inference-batches", 30);
    Dataset data = Datasets.open(new DatasetSpec("synthetic", null, Map.of("classes", "10", "size", "32x32",
        "train", "256", "test", "32", "seed", "3")));
    float[] images = new float[BATCH * 3 * 32 * 32];
    int[] first = new int[BATCH];
    for (int i = 0; i < BATCH; i++) {
      first[i] = i;
    }
    data.train().fill(first, images, new long[BATCH], 0);
    Map<String, Object> settings = new LinkedHashMap<>();
    settings.put("wattlab.nvml.enabled", "false");
    try (EnergyMeter meter = InProcessMeter.start(new PropertySourcePropertyResolver(
        PropertySource.of("bench", settings)))) {
      System.out.printf("bench meter %s%n", meter.describe());
      for (String name : new String[] {"resnet-cifar", "resnet18", "mobilenet_v2"}) {
        ModelProto fp32 = name.equals("resnet-cifar") ? BuiltinModels.create(name, 10, 3, 32, 32, 0)
            : TorchExports.model(name, 32, 10);
        for (String mode : new String[] {"static", "dynamic"}) {
          CalibratedPass pass = (CalibratedPass) Techniques.create("quantize", Map.of("mode", mode));
          ActivationRanges ranges = RangeCollector.collect(fp32, pass.calibrationTensors(fp32), data.train(), 256,
              BATCH, 5, ExecutionConfig.cpu(threads));
          ModelProto int8 = pass.calibrated(ranges).apply(fp32).model();
          try (OrtSession a = session(fp32, threads); OrtSession b = session(int8, threads)) {
            // Two rounds, fp32 then int8 in each, so that a drift of the machine shows as a difference.
            for (int round = 1; round <= 2; round++) {
              Timed x = time(a, images, batches, meter);
              Timed y = time(b, images, batches, meter);
              System.out.printf("bench inference round %d %s quantize mode=%s fp32 ms_per_image %.3f "
                  + "joules_per_1000 %.1f int8 ms_per_image %.3f joules_per_1000 %.1f ratio_ms %.3f ratio_joules %.3f "
                  + "measured_fraction %.2f%n", round, name, mode, x.msPerImage, x.joulesPer1000, y.msPerImage,
                  y.joulesPer1000, y.msPerImage / x.msPerImage, y.joulesPer1000 / x.joulesPer1000, y.measuredFraction);
            }
          }
        }
      }
    }
  }

  @Test
  void passTimes() throws Exception {
    assumeTrue(Boolean.getBoolean("wattlab.bench"), "benchmark runs only with -Dwattlab.bench=true");
    Dataset noise = Datasets.open(new DatasetSpec("synthetic", null, Map.of("classes", "10", "size", "224x224",
        "train", "8", "test", "8", "seed", "3")));
    for (String model : System.getProperty("wattlab.bench.models", "resnet50,vgg16").split(",")) {
      ModelProto m = TorchExports.model(model, 224, 1000);
      for (String mode : new String[] {"static", "dynamic"}) {
        CalibratedPass pass = (CalibratedPass) Techniques.create("quantize", Map.of("mode", mode));
        long start = System.nanoTime();
        ActivationRanges ranges = RangeCollector.collect(m, pass.calibrationTensors(m), noise.train(), 8, 8, 5,
            ExecutionConfig.cpu(Integer.getInteger("wattlab.bench.threads", 2)));
        double calibration = (System.nanoTime() - start) / 1e9;
        PassReport report = PassReport.run(pass.calibrated(ranges), m).report();
        System.out.printf("bench pass %s quantize %s seconds %.2f calibration_seconds_8_images %.2f bytes %d -> %d%n",
            model, pass.parameters().canonical(), report.passSeconds(), calibration,
            report.before().bytes(), report.after().bytes());
      }
    }
  }

  private record Timed(double msPerImage, double joulesPer1000, double measuredFraction) {}

  private static Timed time(OrtSession s, float[] images, int batches, EnergyMeter meter) throws Exception {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    String input = s.getInputNames().iterator().next();
    try (OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(images), new long[] {BATCH, 3, 32, 32})) {
      s.run(Map.of(input, x)).close();
      EnergyMeter.Window w = meter.begin(Map.of("bench", "quantize"));
      long start = System.nanoTime();
      for (int i = 0; i < batches; i++) {
        s.run(Map.of(input, x)).close();
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      EnergySummary e = EnergySummaries.of(meter.end(w), 0);
      long n = (long) batches * BATCH;
      return new Timed(seconds * 1000 / n, e.getEnergyJoules() / n * 1000, e.getMeasuredFraction());
    }
  }

  private static OrtSession session(ModelProto model, int threads) throws Exception {
    try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
      o.setIntraOpNumThreads(threads);
      o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
      return OrtEnvironment.getEnvironment().createSession(RangeCollector.withBatch(model, BATCH).toByteArray(), o);
    }
  }
}
