package io.wattlab.trainer.compress.precision;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.compress.Compressed;
import io.wattlab.trainer.compress.InvalidCompressionException;
import io.wattlab.trainer.compress.PassReport;
import io.wattlab.trainer.compress.Techniques;
import io.wattlab.trainer.compress.mantissa.LearnedWeights;
import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetSpec;
import io.wattlab.trainer.data.Datasets;
import io.wattlab.trainer.data.batch.Batch;
import io.wattlab.trainer.data.batch.BatchIterator;
import io.wattlab.trainer.data.batch.BatchLoader;
import io.wattlab.trainer.model.BuiltinModels;
import io.wattlab.trainer.onnx.ReducedFloat;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.ForwardModel;
import io.wattlab.trainer.train.ModelExport;
import io.wattlab.trainer.train.TrainConfig;
import io.wattlab.trainer.train.TrainStepBuilder;
import io.wattlab.trainer.train.Trainer;
import java.nio.FloatBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class PrecisionPassTest {

  private static final ModelProto RESNET = BuiltinModels.create("resnet-cifar", 4, 3, 16, 16, 3);

  private static Compressed precision(String format) {
    return Techniques.create("precision", Map.of("format", format)).apply(RESNET);
  }

  private static Map<String, TensorProto> initializers(ModelProto model) {
    Map<String, TensorProto> m = new HashMap<>();
    model.getGraph().getInitializerList().forEach(t -> m.put(t.getName(), t));
    return m;
  }

  @Test
  void everyWeightIsRoundedToTheFormatAndStatisticsAreLeftAlone() throws Exception {
    for (ReducedFloat format : ReducedFloat.values()) {
      Compressed out = precision(format.word());
      LearnedWeights weights = LearnedWeights.of(RESNET.getGraph());
      Map<String, TensorProto> before = initializers(RESNET);
      Map<String, TensorProto> after = initializers(out.model());
      for (String name : before.keySet()) {
        if (weights.tensors().contains(name)) {
          float[] b = Tensors.toFloats(before.get(name));
          float[] a = Tensors.toFloats(after.get(name));
          for (int i = 0; i < a.length; i++) {
            assertEquals(format.round(b[i]), a[i], format + " " + name + "[" + i + "]");
          }
        } else {
          assertEquals(before.get(name), after.get(name), name);
        }
      }
      long changed = Long.parseLong(out.details().get("values_changed"));
      long values = Long.parseLong(out.details().get("weight_values"));
      assertTrue(changed > values * 0.9, format + ": " + changed + " of " + values + " random weights changed");
      double maxRelative = Double.parseDouble(out.details().get("max_relative_change"));
      // Half a unit in the last place: 2^-11 for fp16's 11-bit significand, 2^-8 for bf16's 8 (normal values;
      // subnormal ones are counted apart).
      double halfUlp = format == ReducedFloat.FP16 ? 0x1p-11 : 0x1p-8;
      assertTrue(maxRelative <= halfUlp && maxRelative > halfUlp / 4, format + ": " + maxRelative);
      // A fresh session runs it, same output shape, logits close to the fp32 model's.
      float[][] original = run(RESNET);
      float[][] rounded = run(out.model());
      assertEquals(original[0].length, rounded[0].length);
      double diff = 0;
      double scale = 0;
      for (int i = 0; i < original.length; i++) {
        for (int j = 0; j < original[i].length; j++) {
          diff = Math.max(diff, Math.abs(original[i][j] - rounded[i][j]));
          scale = Math.max(scale, Math.abs(original[i][j]));
        }
      }
      assertTrue(diff > 0 && diff < 0.1 * scale, format + ": logits moved " + diff + " of " + scale);
    }
  }

  @Test
  void theReportSaysWhatPrecisionTheComputeUsed() {
    PassReport.Outcome bf16 = PassReport.run(Techniques.create("precision", Map.of("format", "bf16")), RESNET);
    Map<String, String> report = bf16.report().toMap();
    assertEquals("compute=auto,format=bf16,growth_interval=2000,init_scale=65536", report.get("parameters"));
    assertEquals("fp32", report.get("compute"));
    assertEquals("bf16-rounded", report.get("weights"));
    assertTrue(report.get("compute_reason").contains("CPU execution provider has no bfloat16 kernels"),
        report.get("compute_reason"));
    assertTrue(report.get("loss_scaling").startsWith("none"));
    Map<String, String> fp16 = PassReport.run(Techniques.create("precision", Map.of()), RESNET).report().toMap();
    assertEquals("compute=auto,format=fp16,growth_interval=2000,init_scale=65536", fp16.get("parameters"),
        "fp16 is the default");
    assertTrue(fp16.get("compute_reason").contains("no float16 Conv kernel"), fp16.get("compute_reason"));
    assertEquals(report.get("bytes_before"), report.get("bytes_after"), "weights stay float32 tensors");
  }

  @Test
  void onCudaTheStepComputesInTheFormatAndTheWeightsStayFloat32Masters() {
    for (ReducedFloat format : ReducedFloat.values()) {
      PrecisionPass pass = ((PrecisionPass) Techniques.create("precision", Map.of("format", format.word())))
          .on("cuda:0");
      Compressed out = pass.apply(RESNET);
      assertEquals(RESNET, out.model(), format + ": master weights are not rounded");
      assertTrue(out.constraints().isEmpty(), format + ": nothing rounds them after a step");
      assertEquals(format.word(), out.details().get("compute"));
      assertTrue(out.details().get("compute_reason").startsWith("device cuda:0: the train step casts"),
          out.details().get("compute_reason"));
      assertTrue(out.details().get("loss_scaling").startsWith("dynamic (torch.cuda.amp.GradScaler's scheme): "
          + "initial scale 65536"), out.details().get("loss_scaling"));
      assertEquals("0", out.details().get("skipped_steps"));
      assertEquals(format == ReducedFloat.FP16 ? Tensors.FLOAT16 : Tensors.BFLOAT16,
          pass.mixedPrecision().elemType());
      assertEquals(65536, pass.mixedPrecision().initialScale());
      assertEquals(2000, pass.mixedPrecision().growthInterval());
    }
    PrecisionPass fp32 = ((PrecisionPass) Techniques.create("precision", Map.of("compute", "fp32"))).on("cuda:1");
    assertEquals(null, fp32.mixedPrecision(), "compute: fp32 keeps the rounded-weights mode on a GPU");
    assertTrue(fp32.apply(RESNET).details().get("compute_reason").startsWith("asked for by parameters.compute: fp32"));
  }

  @Test
  void onTheCpuFp16ComputeIsOnlyOnRequestAndTheReportSaysTheProviderCastsAroundConv() {
    PrecisionPass auto = ((PrecisionPass) Techniques.create("precision", Map.of())).on("cpu");
    assertEquals(null, auto.mixedPrecision());
    assertTrue(auto.apply(RESNET).details().get("compute_reason").contains("compute: fp16 builds the float16 graph"));
    PrecisionPass asked = ((PrecisionPass) Techniques.create("precision", Map.of("compute", "fp16",
        "init_scale", "1024", "growth_interval", "10"))).on("cpu");
    Map<String, String> details = asked.apply(RESNET).details();
    assertEquals("fp16", details.get("compute"));
    assertTrue(details.get("compute_reason").startsWith("device cpu, asked for by parameters.compute: ")
        && details.get("compute_reason").contains("InsertedPrecisionFreeCast"), details.get("compute_reason"));
    assertEquals("1024", details.get("final_loss_scale"));
    assertEquals(new io.wattlab.trainer.train.MixedPrecision(Tensors.FLOAT16, 1024, 10), asked.mixedPrecision());
  }

  @Test
  void bf16ComputeOnTheCpuAndAComputeOtherThanTheFormatAreRefusedByName() {
    PrecisionPass bf16 = (PrecisionPass) Techniques.create("precision", Map.of("format", "bf16", "compute", "bf16"));
    InvalidCompressionException cpu = assertThrows(InvalidCompressionException.class, () -> bf16.on("cpu"));
    assertEquals("parameters.compute", cpu.field());
    assertTrue(cpu.problem().startsWith("bf16 compute cannot run on device cpu: ONNX Runtime's CPU execution "
        + "provider has no bfloat16 kernels"), cpu.problem());
    InvalidCompressionException mixed = assertThrows(InvalidCompressionException.class,
        () -> Techniques.create("precision", Map.of("format", "bf16", "compute", "fp16")));
    assertEquals("parameters.compute: fp16 differs from format bf16 (compute is auto, fp32 or the format)",
        mixed.getMessage());
  }

  @Test
  void anUnknownFormatIsNamed() {
    InvalidCompressionException e = assertThrows(InvalidCompressionException.class,
        () -> Techniques.create("precision", Map.of("format", "fp8")));
    assertEquals("parameters.format", e.field());
    assertTrue(e.getMessage().contains("fp16, bf16"), e.getMessage());
  }

  @Test
  void weightsStayRepresentableThroughTraining() throws Exception {
    Dataset data = Datasets.open(new DatasetSpec("synthetic", null, Map.of("classes", "4", "size", "16x16",
        "train", "64", "test", "8", "seed", "5")));
    for (ReducedFloat format : ReducedFloat.values()) {
      Compressed out = precision(format.word());
      ForwardModel forward = ForwardModel.prepare(out.model(), 16);
      Map<String, float[]> start = forward.initialState();
      Map<String, float[]> state;
      try (Trainer trainer = new Trainer(TrainStepBuilder.build(forward, TrainConfig.sgd(16, 0.9)),
          ExecutionConfig.cpu(2))) {
        trainer.constrain(out.constraints());
        try (BatchIterator batches = new BatchLoader(data.train(), 16, true, true, 1, r -> {
          Thread t = new Thread(r);
          t.setDaemon(true);
          return t;
        }).epoch(0)) {
          while (batches.hasNext()) {
            Batch b = batches.next();
            assertTrue(Float.isFinite(trainer.step(b.images(), b.labels(), 0.05f)));
          }
        }
        state = trainer.state();
      }
      ModelProto exported = ModelExport.trainedModel(forward, state);
      int moved = 0;
      int tensors = 0;
      for (String name : LearnedWeights.of(exported.getGraph()).tensors()) {
        float[] v = Tensors.toFloats(initializers(exported).get(name));
        for (int i = 0; i < v.length; i++) {
          assertEquals(Float.floatToRawIntBits(format.round(v[i])), Float.floatToRawIntBits(v[i]),
              format + " " + name + "[" + i + "] = " + v[i] + " is not a " + format + " value after 4 steps");
        }
        tensors++;
        moved += java.util.Arrays.equals(v, start.get(name)) ? 0 : 1;
      }
      // bf16's step is 2^-8 of a weight: smaller updates are lost, so fewer tensors move than in fp16.
      assertTrue(moved >= tensors / 2, format + ": " + moved + " of " + tensors + " weight tensors trained");
      assertNotEquals(0, tensors);
    }
  }

  static float[][] run(ModelProto model) throws Exception {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    String input = model.getGraph().getInput(0).getName();
    long[] shape = {2, 3, 16, 16};
    float[] x = new float[2 * 3 * 16 * 16];
    Random random = new Random(42);
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) random.nextGaussian();
    }
    try (OrtSession session = env.createSession(model.toByteArray());
         OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), shape);
         OrtSession.Result r = session.run(Map.of(input, t))) {
      return (float[][]) r.get(0).getValue();
    }
  }
}
