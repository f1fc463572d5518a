package io.wattlab.trainer.train;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.train.TrainGraph.StateSlot;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Runs a {@link KStepGraph}: K optimizer steps per call, state kept on the Java side in between. */
public final class KStepTrainer implements AutoCloseable {
  private final KStepGraph graph;
  private final OrtSession session;
  private final Map<String, float[]> state = new LinkedHashMap<>();

  public KStepTrainer(KStepGraph graph, ExecutionConfig config) {
    this.graph = graph;
    this.session = Sessions.open(graph.model(), config);
    for (StateSlot s : graph.step().state()) {
      state.put(s.name(), s.initial().clone());
    }
  }

  /** K steps; images holds K batches back to back, labels K*N labels. Returns the K losses. */
  public float[] run(float[] images, long[] labels, float learningRate) {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    long[] img = graph.step().imageDims();
    long[] kImg = new long[img.length + 1];
    kImg[0] = graph.steps();
    System.arraycopy(img, 0, kImg, 1, img.length);
    List<OnnxTensor> owned = new ArrayList<>();
    try {
      Map<String, OnnxTensor> in = new LinkedHashMap<>();
      in.put(graph.imagesInput(), own(owned, OnnxTensor.createTensor(env, FloatBuffer.wrap(images), kImg)));
      in.put(graph.labelsInput(), own(owned, OnnxTensor.createTensor(env, LongBuffer.wrap(labels),
          new long[] {graph.steps(), img[0]})));
      in.put(graph.step().learningRateInput(), own(owned, OnnxTensor.createTensor(env,
          FloatBuffer.wrap(new float[] {learningRate}), new long[0])));
      for (StateSlot s : graph.step().state()) {
        in.put(KStepGraph.initName(s), own(owned, OnnxTensor.createTensor(env, FloatBuffer.wrap(state.get(s.name())),
            s.dims())));
      }
      try (OrtSession.Result r = session.run(in)) {
        for (StateSlot s : graph.step().state()) {
          FloatBuffer b = ((OnnxTensor) r.get(KStepGraph.finalName(s)).orElseThrow()).getFloatBuffer();
          float[] v = new float[b.remaining()];
          b.get(v);
          state.put(s.name(), v);
        }
        FloatBuffer losses = ((OnnxTensor) r.get(graph.lossesOutput()).orElseThrow()).getFloatBuffer();
        float[] out = new float[losses.remaining()];
        losses.get(out);
        return out;
      }
    } catch (OrtException e) {
      throw new TrainingException("K-step run failed: " + e.getMessage());
    } finally {
      owned.forEach(OnnxTensor::close);
    }
  }

  private static OnnxTensor own(List<OnnxTensor> owned, OnnxTensor t) {
    owned.add(t);
    return t;
  }

  public Map<String, float[]> state() {
    return state;
  }

  @Override
  public void close() {
    try {
      session.close();
    } catch (OrtException e) {
      throw new TrainingException("cannot close session: " + e.getMessage());
    }
  }
}
