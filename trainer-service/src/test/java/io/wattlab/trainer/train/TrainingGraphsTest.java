package io.wattlab.trainer.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.onnx.OnnxModels;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** K-step Loop, eval graph, export, trainable sets, AdamW/clipping and unsupported-op errors. */
class TrainingGraphsTest {

  private static Reference tiny() throws Exception {
    return Reference.of("tiny", "--batch", "4", "--size", "16", "--steps", "20", "--lr", "0.05");
  }

  @Test
  void kStepLoopGivesBitwiseTheSameStateAsKSingleSteps() throws Exception {
    Reference ref = tiny();
    ForwardModel forward = ForwardModel.prepare(ref.model(), 4);
    TrainGraph step = TrainStepBuilder.build(forward, TrainConfig.sgd(4, 0.9));
    int k = 3;
    int per = ref.input().length;
    Random random = new Random(7);
    float[] images = new float[k * per];
    long[] labels = new long[k * 4];
    for (int i = 0; i < images.length; i++) {
      images[i] = (float) random.nextGaussian();
    }
    for (int i = 0; i < labels.length; i++) {
      labels[i] = random.nextInt(10);
    }
    float[] single = new float[k];
    Map<String, float[]> singleState;
    try (Trainer t = new Trainer(step, ExecutionConfig.cpu(1))) {
      for (int s = 0; s < k; s++) {
        single[s] = t.step(Arrays.copyOfRange(images, s * per, (s + 1) * per),
            Arrays.copyOfRange(labels, s * 4, (s + 1) * 4), 0.05f);
      }
      singleState = t.state();
    }
    try (KStepTrainer kt = new KStepTrainer(KStepGraph.build(step, k), ExecutionConfig.cpu(1))) {
      float[] losses = kt.run(images, labels, 0.05f);
      assertArrayEquals(single, losses);
      for (var e : singleState.entrySet()) {
        assertArrayEquals(e.getValue(), kt.state().get(e.getKey()), e.getKey());
      }
      assertFalse(Arrays.equals(singleState.get("0.weight"), step.state().get(0).initial()), "training moved weights");
    }
  }

  @Test
  void exportedModelRunsInAFreshSessionAndMatchesTheEvalGraphAndPyTorch(@TempDir Path dir) throws Exception {
    Reference ref = tiny();
    ForwardModel forward = ForwardModel.prepare(ref.model(), 4);
    Map<String, float[]> state;
    try (Trainer t = new Trainer(TrainStepBuilder.build(forward, TrainConfig.sgd(4, 0.9)), ExecutionConfig.cpu(2))) {
      for (int i = 0; i < 20; i++) {
        t.step(ref.input(), ref.labels, 0.05f);
      }
      state = t.state();
    }
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    float[] evalLogits;
    try (OrtSession eval = Sessions.open(ModelExport.evalGraph(forward), ExecutionConfig.cpu(1))) {
      Map<String, OnnxTensor> in = new LinkedHashMap<>();
      in.put(forward.input(), OnnxTensor.createTensor(env, FloatBuffer.wrap(ref.input()), new long[] {4, 3, 16, 16}));
      for (String name : forward.initialState().keySet()) {
        long[] dims = io.wattlab.trainer.onnx.Tensors.dims(forward.graph().initializers().get(name));
        in.put(name, OnnxTensor.createTensor(env, FloatBuffer.wrap(state.get(name)), dims));
      }
      try (OrtSession.Result r = eval.run(in)) {
        evalLogits = copy((OnnxTensor) r.get(0));
      }
    }
    Path file = dir.resolve("trained.onnx");
    OnnxModels.write(ModelExport.trainedModel(forward, state), file);
    float[] exportedLogits;
    try (OrtSession fresh = env.createSession(file.toString(), new OrtSession.SessionOptions());
        OrtSession.Result r = fresh.run(Map.of(forward.input(),
            OnnxTensor.createTensor(env, FloatBuffer.wrap(ref.input()), new long[] {4, 3, 16, 16})))) {
      exportedLogits = copy((OnnxTensor) r.get(0));
    }
    // Not bitwise: with weights as constants ONNX Runtime folds BatchNorm into Conv, which rounds differently.
    double err = Reference.relativeError(exportedLogits, evalLogits);
    assertTrue(err < 1e-5, "exported vs eval graph: relative error " + err);
    float[] torchLogits = ref.floats.get("logits_eval").get("logits");
    assertTrue(Reference.relativeError(exportedLogits, torchLogits) < 1e-3,
        "eval logits vs PyTorch: " + Reference.relativeError(exportedLogits, torchLogits));
  }

  private static float[] copy(OnnxTensor t) {
    FloatBuffer b = t.getFloatBuffer();
    float[] v = new float[b.remaining()];
    b.get(v);
    return v;
  }

  @Test
  void frozenParametersGetNoGradientAndDoNotMove() throws Exception {
    Reference ref = tiny();
    ForwardModel forward = ForwardModel.prepare(ref.model(), 4);
    TrainGraph last = TrainStepBuilder.build(forward,
        TrainConfig.sgd(4, 0.9).withTrainable(new TrainableSet.LastLayers(1)).withOutputGradients(true));
    assertEquals(List.of("8.weight", "8.bias"), List.copyOf(last.gradientOutputs().keySet()));
    try (Trainer t = new Trainer(last, ExecutionConfig.cpu(2))) {
      t.step(ref.input(), ref.labels, 0.05f);
      assertArrayEquals(ref.grads().get("8.weight"), t.gradient("8.weight"), 1e-4f);
    }
    long gradNodes = Graph.fromModel(last.model()).nodes().stream().map(Node::name)
        .filter(n -> n.startsWith("grad/Conv")).count();
    assertEquals(0, gradNodes, "no convolution gradient is built when only the classifier trains");

    TrainGraph byName = TrainStepBuilder.build(forward,
        TrainConfig.sgd(4, 0.9).withTrainable(new TrainableSet.NamePattern(Pattern.compile("^4\\."))).withOutputGradients(true));
    assertEquals(List.of("4.weight", "4.bias"), List.copyOf(byName.gradientOutputs().keySet()));
  }

  @Test
  void adamWWithClippingAndLabelSmoothingMatchesPyTorch() throws Exception {
    Reference ref = Reference.of("mlp", "--batch", "4", "--steps", "20", "--optimizer", "adamw", "--lr", "0.01",
        "--weight-decay", "0.05", "--clip-norm", "0.5", "--label-smoothing", "0.1");
    TrainConfig config = new TrainConfig(4, 0.1, new Optimizer.AdamW(0.9, 0.999, 1e-8, 0.05), TrainableSet.all(), 0.5,
        false);
    PyTorchParityTest.checkGradients(ref, config.withClipGradNorm(0));
    PyTorchParityTest.checkTrajectory(ref, config, 0.01f, 20);
  }

  @Test
  void sgdWithNesterovAndWeightDecayMatchesPyTorch() throws Exception {
    Reference ref = Reference.of("tiny", "--batch", "4", "--size", "16", "--steps", "20", "--lr", "0.02",
        "--nesterov", "1", "--weight-decay", "0.01");
    PyTorchParityTest.checkTrajectory(ref, TrainConfig.sgd(4, 0.9).withOptimizer(new Optimizer.Sgd(0.9, true, 0.01)),
        0.02f, 20);
  }

  @Test
  void anUnsupportedOpIsNamedBeforeTraining() throws Exception {
    ModelProto model = tiny().model();
    Graph g = Graph.fromModel(model);
    Node relu = g.nodes().stream().filter(n -> n.opType().equals("Relu")).findFirst().orElseThrow();
    g.nodes().set(g.nodes().indexOf(relu), new Node(relu.name(), "Elu", "", relu.inputs(), relu.outputs(), Map.of()));
    TrainingException e = assertThrows(TrainingException.class, () -> ForwardModel.prepare(g.toModel(), 4));
    assertTrue(e.getMessage().contains(relu.name()) && e.getMessage().contains("Elu")
        && e.getMessage().contains("opset 14"), e.getMessage());
  }
}
