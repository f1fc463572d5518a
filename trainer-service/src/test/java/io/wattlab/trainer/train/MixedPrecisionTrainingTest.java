package io.wattlab.trainer.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.wattlab.trainer.compress.mantissa.LearnedWeights;
import io.wattlab.trainer.onnx.ReducedFloat;
import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetSpec;
import io.wattlab.trainer.data.Datasets;
import io.wattlab.trainer.data.batch.Batch;
import io.wattlab.trainer.data.batch.BatchIterator;
import io.wattlab.trainer.data.batch.BatchLoader;
import io.wattlab.trainer.model.BuiltinModels;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.train.TrainGraph.StateKind;
import io.wattlab.trainer.train.TrainGraph.StateSlot;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The mixed-precision train step on ONNX Runtime's CPU provider, in float16: where the Casts are,
 * that it trains, keeps float32 master weights, gives float32's gradients within float16's
 * rounding, and skips the steps whose gradients overflow while the loss scale backs off.
 */
class MixedPrecisionTrainingTest {

  private static final int BATCH = 16;
  private static final ModelProto RESNET = BuiltinModels.create("resnet-cifar", 4, 3, 16, 16, 3);

  private static Dataset data() throws Exception {
    return Datasets.open(new DatasetSpec("synthetic", null, Map.of("classes", "4", "size", "16x16",
        "train", "64", "test", "8", "seed", "5", "difficulty", "easy")));
  }

  private static List<Batch> batches(Dataset data, int epoch) throws Exception {
    List<Batch> out = new ArrayList<>();
    try (BatchIterator it = new BatchLoader(data.train(), BATCH, true, true, 1, r -> {
      Thread t = new Thread(r);
      t.setDaemon(true);
      return t;
    }).epoch(epoch)) {
      while (it.hasNext()) {
        out.add(it.next());
      }
    }
    return out;
  }

  private static TrainConfig fp16(MixedPrecision mixed) {
    return TrainConfig.sgd(BATCH, 0.9).withMixedPrecision(mixed);
  }

  private static Map<String, NodeProto> producers(GraphProto g) {
    Map<String, NodeProto> m = new HashMap<>();
    for (NodeProto n : g.getNodeList()) {
      n.getOutputList().forEach(o -> m.put(o, n));
    }
    return m;
  }

  private static boolean isCastTo(NodeProto n, int type) {
    return n != null && n.getOpType().equals("Cast") && n.getAttribute(0).getI() == type;
  }

  private static int elemType(List<ValueInfoProto> values, String name) {
    return values.stream().filter(v -> v.getName().equals(name)).findFirst().orElseThrow()
        .getType().getTensorType().getElemType();
  }

  @Test
  void weightsAndImagesAreCastToFloat16BeforeUseAndLogitsBackToFloat32BeforeTheLoss() throws Exception {
    ForwardModel forward = ForwardModel.prepare(RESNET, BATCH);
    TrainGraph step = TrainStepBuilder.build(forward, fp16(MixedPrecision.fp16()));
    GraphProto g = step.model().getGraph();
    Map<String, NodeProto> producers = producers(g);
    for (StateSlot s : step.state()) {
      assertEquals(Tensors.FLOAT, elemType(g.getInputList(), s.input()), s.input() + " stays a float32 input");
      assertEquals(Tensors.FLOAT, elemType(g.getOutputList(), s.output()), s.output() + " stays a float32 output");
    }
    int convs = 0;
    int gemms = 0;
    for (NodeProto n : g.getNodeList()) {
      boolean forwardNode = !n.getName().startsWith("grad/");
      if (forwardNode && n.getOpType().equals("Conv")) {
        NodeProto weight = producers.get(n.getInput(1));
        assertTrue(isCastTo(weight, Tensors.FLOAT16) && forward.parameters().contains(weight.getInput(0)),
            n.getName() + " reads its master weight through a Cast to float16: " + weight);
        convs++;
      }
      if (forwardNode && n.getOpType().equals("Gemm")) {
        for (int i = 1; i <= 2; i++) {
          assertTrue(isCastTo(producers.get(n.getInput(i)), Tensors.FLOAT16), n.getName() + " input " + i);
        }
        gemms++;
      }
      if (n.getOpType().equals("LogSoftmax")) {
        NodeProto in = producers.get(n.getInput(0));
        assertTrue(isCastTo(in, Tensors.FLOAT) && in.getInput(0).equals(forward.logits()),
            "the loss reads the logits cast back to float32: " + in);
      }
    }
    assertTrue(convs >= 5 && gemms == 1, convs + " Conv, " + gemms + " Gemm");
    List<NodeProto> imageUsers = g.getNodeList().stream().filter(n -> n.getInputList().contains(step.imageInput()))
        .toList();
    assertEquals(1, imageUsers.size());
    assertTrue(isCastTo(imageUsers.get(0), Tensors.FLOAT16), "the images are cast once: " + imageUsers);
    assertEquals(Tensors.FLOAT, elemType(g.getInputList(), TrainStepBuilder.LOSS_SCALE));
    assertEquals(Tensors.FLOAT, elemType(g.getOutputList(), TrainStepBuilder.GRAD_OVERFLOW));
    long guarded = step.state().stream().filter(s -> s.kind() != StateKind.STATISTIC).count();
    long wheres = g.getNodeList().stream().filter(n -> n.getOpType().equals("Where")
        && isCastTo(producers.get(n.getInput(0)), Tensors.BOOL)).count();
    assertEquals(guarded, wheres, "every parameter and optimizer buffer update goes through Where(overflow, ...)");
    assertTrue(step.scalesLoss());
    assertThrows(IllegalArgumentException.class, () -> KStepGraph.build(step, 2));
    assertFalse(TrainStepBuilder.build(forward, TrainConfig.sgd(BATCH, 0.9)).scalesLoss());
  }

  @Test
  void theFloat16GraphTrainsAndKeepsFloat32MasterWeights() throws Exception {
    Dataset data = data();
    ForwardModel forward = ForwardModel.prepare(RESNET, BATCH);
    int epochs = 6;
    double[] epochLoss = new double[epochs];
    Map<String, float[]> state;
    LossScaler scaler;
    try (Trainer trainer = new Trainer(TrainStepBuilder.build(forward, fp16(MixedPrecision.fp16())),
        ExecutionConfig.cpu(2))) {
      for (int e = 0; e < epochs; e++) {
        List<Batch> batches = batches(data, e);
        for (Batch b : batches) {
          float loss = trainer.step(b.images(), b.labels(), 0.05f);
          assertTrue(Float.isFinite(loss), "epoch " + e + " loss " + loss);
          epochLoss[e] += loss / batches.size();
        }
      }
      state = trainer.state();
      scaler = trainer.lossScaler().orElseThrow();
    }
    System.out.println("fp16 loss per epoch " + java.util.Arrays.toString(epochLoss) + ", " + scaler.skippedSteps()
        + " of " + scaler.steps() + " steps skipped, final scale " + scaler.scale());
    assertTrue(epochLoss[epochs - 1] < 0.7 * epochLoss[0], "loss per epoch: " + java.util.Arrays.toString(epochLoss));
    assertEquals(epochs * 64 / BATCH, scaler.steps());
    assertTrue(scaler.skippedSteps() < scaler.steps() / 2, scaler.skippedSteps() + " skipped");

    ModelProto exported = ModelExport.trainedModel(forward, state);
    int notFp16 = 0;
    int values = 0;
    for (TensorProto t : exported.getGraph().getInitializerList()) {
      if (!LearnedWeights.of(exported.getGraph()).tensors().contains(t.getName())) {
        continue;
      }
      assertEquals(Tensors.FLOAT, t.getDataType(), t.getName() + " is exported as float32");
      for (float v : Tensors.toFloats(t)) {
        notFp16 += ReducedFloat.FP16.round(v) == v ? 0 : 1;
        values++;
      }
    }
    // Master weights accumulate updates below float16's resolution: most are not float16 values.
    assertTrue(notFp16 > values / 2, notFp16 + " of " + values + " weights are not float16 values");
  }

  @Test
  void float16GradientsMatchTheFloat32GraphsWithinFloat16Rounding() throws Exception {
    ForwardModel forward = ForwardModel.prepare(RESNET, BATCH);
    Batch batch = batches(data(), 0).get(0);
    Map<String, float[]> g32 = new HashMap<>();
    try (Trainer t = new Trainer(TrainStepBuilder.build(forward, TrainConfig.sgd(BATCH, 0).withOutputGradients(true)),
        ExecutionConfig.cpu(2))) {
      t.step(batch.images(), batch.labels(), 0f);
      forward.parameters().forEach(p -> g32.put(p, t.gradient(p)));
    }
    // 2^10 keeps the scaled gradients inside float16's range for this model and batch.
    MixedPrecision mixed = MixedPrecision.fp16().withInitialScale(1024);
    double worst = 0;
    String worstName = "";
    try (Trainer t = new Trainer(TrainStepBuilder.build(forward, TrainConfig.sgd(BATCH, 0).withOutputGradients(true)
        .withMixedPrecision(mixed)), ExecutionConfig.cpu(2))) {
      t.step(batch.images(), batch.labels(), 0f);
      assertFalse(t.lossScaler().orElseThrow().lastStepSkipped());
      for (String p : forward.parameters()) {
        float[] a = t.gradient(p);
        float[] b = g32.get(p);
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < a.length; i++) {
          diff += (a[i] - (double) b[i]) * (a[i] - (double) b[i]);
          norm += (double) b[i] * b[i];
        }
        double relative = Math.sqrt(diff / Math.max(norm, 1e-30));
        if (relative > worst) {
          worst = relative;
          worstName = p;
        }
      }
    }
    System.out.println("fp16 vs fp32 gradients: worst relative L2 error " + worst + " (" + worstName + ")");
    // float16 rounds to 2^-11 (4.9e-4) relative at every Cast; a weight's gradient goes through about
    // ten of them (activations forward, gradients back through resnet-cifar's blocks), whose errors
    // add at worst: 5e-3, ten units of 2^-11, bounds it (measured: 1.2e-3, a BatchNorm weight).
    assertTrue(worst < 5e-3, "worst relative L2 error " + worst + " in the gradient of " + worstName);
    assertTrue(worst > 1e-5, "the gradients differ from float32's at all (the graph did compute in float16)");
  }

  @Test
  void anAbsurdScaleSkipsStepsUnchangedAndHalvesUntilStepsGoThrough() throws Exception {
    ForwardModel forward = ForwardModel.prepare(RESNET, BATCH);
    Batch batch = batches(data(), 0).get(0);
    try (Trainer t = new Trainer(TrainStepBuilder.build(forward, fp16(MixedPrecision.fp16().withInitialScale(0x1p40))),
        ExecutionConfig.cpu(2))) {
      LossScaler scaler = t.lossScaler().orElseThrow();
      int skipped = 0;
      while (true) {
        Map<String, float[]> before = t.state();
        float scale = scaler.scale();
        t.step(batch.images(), batch.labels(), 0.05f);
        Map<String, float[]> after = t.state();
        if (!scaler.lastStepSkipped()) {
          assertFalse(java.util.Arrays.equals(before.get(forward.parameters().get(0)),
              after.get(forward.parameters().get(0))), "a step that went through moved the weights");
          break;
        }
        skipped++;
        assertEquals(scale / 2, scaler.scale(), "halved after skipped step " + skipped);
        for (StateSlot s : t.graph().state()) {
          if (s.kind() != StateKind.STATISTIC) {
            assertArrayEquals(before.get(s.name()), after.get(s.name()), s.name() + " after skipped step " + skipped);
          }
        }
        assertTrue(skipped < 40, "still overflowing at scale " + scaler.scale());
      }
      System.out.println("initial scale 2^40: " + skipped + " steps skipped, then one went through at "
          + scaler.scale());
      // The logits' gradient alone is scale·(softmax − onehot)/16: above float16's 65504 until the scale is under 2^20.
      assertTrue(skipped >= 20, skipped + " skipped steps");
      assertEquals(skipped, scaler.skippedSteps());
      assertEquals((float) Math.scalb(1.0, 40 - skipped), scaler.scale());
    }
  }
}
