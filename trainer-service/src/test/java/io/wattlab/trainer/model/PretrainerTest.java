package io.wattlab.trainer.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.onnx.OnnxModels;
import io.wattlab.trainer.train.ModelExport;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PretrainerTest {

  /** 4 easy classes of 3×16×16, 512 training images, 2 epochs: seconds on two cores. */
  private static Pretrainer.Config easy() {
    return new Pretrainer.Config("resnet-cifar", 4, 3, 16, 16, 512, 128, "easy", 2, 32, 0.05, 11, 2);
  }

  @Test
  void pretrainingAnEasyTaskIsWellAboveChanceAndTheCheckpointIsAPlainModel() throws Exception {
    Path checkpoint = Files.createDirectories(Path.of("target", "pretrain-test")).resolve("resnet-cifar.onnx");
    Files.deleteIfExists(checkpoint);
    Pretrainer.Report report = Pretrainer.run(easy(), checkpoint);

    assertEquals(2, report.epochs());
    assertEquals(128, report.testImages());
    assertTrue(report.top1() >= 0.7, "chance is 0.25; got " + report);
    assertTrue(report.finalLoss() < Math.log(4), "below the loss of a uniform guess; got " + report);
    assertTrue(Files.size(checkpoint) > 4 * 200_000, "the checkpoint holds the weights");

    // The file alone, in a fresh session with any batch size, gives the accuracy the report states.
    ModelProto loaded = OnnxModels.read(checkpoint);
    Dataset data = Pretrainer.sourceTask(easy());
    assertEquals(report.top1(), Pretrainer.top1(loaded, data.test(), 50, 1));
    assertEquals(4, loaded.getGraph().getOutput(0).getType().getTensorType().getShape().getDim(1).getDimValue());
    assertTrue(loaded.getGraph().getInput(0).getType().getTensorType().getShape().getDim(0).hasDimParam(),
        "batch dimension left open");
  }

  @Test
  void checkpointGivesTheTrainedStatesOutputs() throws Exception {
    Pretrainer.Config config = new Pretrainer.Config("mobilenet-cifar", 3, 3, 16, 16, 64, 32, "easy", 1, 16, 0.02,
        5, 2);
    Dataset data = Pretrainer.sourceTask(config);
    Pretrainer.Trained trained = Pretrainer.train(config, data);
    Path file = Files.createDirectories(Path.of("target", "pretrain-test")).resolve("mobilenet-cifar.onnx");
    OnnxModels.write(trained.inferenceModel(), file);

    float[] images = new float[16 * 3 * 16 * 16];
    long[] labels = new long[16];
    int[] indices = new int[16];
    for (int i = 0; i < 16; i++) {
      indices[i] = i;
    }
    data.test().fill(indices, images, labels, 0);
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    long[] shape = {16, 3, 16, 16};
    float[][] fromState;
    // The eval graph takes the trained state as inputs: the reference the exported file must match.
    try (OrtSession eval = env.createSession(ModelExport.evalGraph(trained.forward()).toByteArray())) {
      Map<String, OnnxTensor> inputs = new HashMap<>();
      inputs.put(trained.forward().input(), OnnxTensor.createTensor(env, FloatBuffer.wrap(images), shape));
      for (var e : trained.state().entrySet()) {
        if (eval.getInputNames().contains(e.getKey())) {
          long[] dims = io.wattlab.trainer.onnx.Tensors.dims(trained.forward().graph().initializers().get(e.getKey()));
          inputs.put(e.getKey(), OnnxTensor.createTensor(env, FloatBuffer.wrap(e.getValue()), dims));
        }
      }
      try (OrtSession.Result r = eval.run(inputs)) {
        fromState = (float[][]) r.get(0).getValue();
      }
      inputs.values().forEach(OnnxTensor::close);
    }
    float[][] fromFile;
    try (OrtSession fresh = env.createSession(OnnxModels.read(file).toByteArray());
         OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(images), shape);
         OrtSession.Result r = fresh.run(Map.of(BuiltinModels.INPUT, x))) {
      fromFile = (float[][]) r.get(0).getValue();
    }
    double worst = 0;
    for (int i = 0; i < 16; i++) {
      for (int c = 0; c < 3; c++) {
        worst = Math.max(worst, Math.abs(fromFile[i][c] - fromState[i][c]) / (1 + Math.abs(fromState[i][c])));
      }
    }
    // 1e-5: ONNX Runtime folds BatchNorm into Conv when the weights are constants.
    assertTrue(worst < 1e-4, "checkpoint logits differ from the trained state's by " + worst);
  }

  @Test
  void unknownModelAndTooFewImagesAreRejected() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
        new Pretrainer.Config("vgg", 4, 3, 16, 16, 512, 128, "easy", 2, 32, 0.05, 1, 0));
    assertTrue(e.getMessage().contains("mobilenet-cifar, resnet-cifar"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () ->
        new Pretrainer.Config("resnet-cifar", 4, 3, 16, 16, 16, 128, "easy", 2, 32, 0.05, 1, 0));
    assertTrue(e.getMessage().contains("batchSize=32"), e.getMessage());
  }
}
