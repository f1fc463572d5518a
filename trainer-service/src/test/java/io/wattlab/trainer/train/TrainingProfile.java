package io.wattlab.trainer.train;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.testing.RandomBatch;
import io.wattlab.trainer.train.TrainGraph.StateSlot;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * ONNX Runtime's profile of train steps (batch 64, 32x32, SGD momentum, the benchmark's setup):
 * writes target/bench/profile-MODEL.json for bench/training/profile_summary.py. Runs only with
 * -Dwattlab.profile=true (bench/training/profile.sh).
 */
class TrainingProfile {
  private static final int BATCH = 64;

  @Test
  void profile() throws Exception {
    assumeTrue(Boolean.getBoolean("wattlab.profile"), "profile runs only with -Dwattlab.profile=true");
    int threads = Integer.getInteger("wattlab.bench.threads", 2);
    int steps = Integer.getInteger("wattlab.bench.steps", 3);
    Path out = Path.of("target/bench");
    Files.createDirectories(out);
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    for (String model : System.getProperty("wattlab.bench.models", "mobilenet_v2").split(",")) {
      Reference ref = Reference.of(model, "--batch", String.valueOf(BATCH), "--export-only", "1");
      TrainGraph graph = TrainStepBuilder.build(ForwardModel.prepare(ref.model(), BATCH), TrainConfig.sgd(BATCH, 0.9));
      RandomBatch data = RandomBatch.of(BATCH, 3, 32, 32, 10, 0);
      float[] images = data.images();
      long[] labels = data.labels();
      Map<String, OnnxTensor> inputs = new LinkedHashMap<>();
      inputs.put(graph.imageInput(), OnnxTensor.createTensor(env, FloatBuffer.wrap(images), graph.imageDims()));
      inputs.put(graph.labelsInput(), OnnxTensor.createTensor(env, LongBuffer.wrap(labels), new long[] {BATCH}));
      inputs.put(graph.learningRateInput(), OnnxTensor.createTensor(env, FloatBuffer.wrap(new float[] {0.01f}),
          new long[0]));
      for (StateSlot s : graph.state()) {
        inputs.put(s.input(), OnnxTensor.createTensor(env, FloatBuffer.wrap(s.initial()), s.dims()));
      }
      try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
        options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        options.setIntraOpNumThreads(threads);
        options.enableProfiling(out.resolve("ort-" + model).toString());
        try (OrtSession session = env.createSession(graph.model().toByteArray(), options)) {
          // The first run allocates and plans; the summary drops it (run index 0).
          for (int i = 0; i < steps + 1; i++) {
            session.run(inputs).close();
          }
          Path written = Path.of(session.endProfiling());
          Files.move(written, out.resolve("profile-" + model + ".json"), StandardCopyOption.REPLACE_EXISTING);
        }
      }
      inputs.values().forEach(OnnxTensor::close);
      System.out.printf("wattlab profile %s threads %d steps %d -> %s%n", model, threads, steps,
          out.resolve("profile-" + model + ".json").toAbsolutePath());
    }
  }
}
