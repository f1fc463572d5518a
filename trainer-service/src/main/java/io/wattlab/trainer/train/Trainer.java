package io.wattlab.trainer.train;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.train.TrainGraph.StateSlot;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Runs a {@link TrainGraph} step after step in one OrtSession. The state lives in two sets of
 * direct buffers that ONNX Runtime reads and writes in place (pinned outputs), swapped after
 * each step, so no tensor is allocated or copied per step besides the batch itself. A
 * mixed-precision graph gets its loss scale from a {@link LossScaler}, which reads the step's
 * overflow flag after each run.
 */
public final class Trainer implements AutoCloseable {
  private final TrainGraph graph;
  private final OrtSession session;
  private final List<StateSlot> state;
  private final OnnxTensor[] current;
  private final OnnxTensor[] next;
  private final FloatBuffer[] currentBuf;
  private final FloatBuffer[] nextBuf;
  private final FloatBuffer imageBuf;
  private final LongBuffer labelBuf;
  private final FloatBuffer lrBuf;
  private final FloatBuffer lossBuf;
  private final OnnxTensor image;
  private final OnnxTensor labels;
  private final OnnxTensor lr;
  private final OnnxTensor loss;
  private final FloatBuffer teacherBuf;
  private final OnnxTensor teacher;
  private final Map<String, FloatBuffer> gradientBufs = new LinkedHashMap<>();
  private final Map<String, OnnxTensor> gradientTensors = new LinkedHashMap<>();
  private final Map<ParameterConstraint, List<String>> constraints = new LinkedHashMap<>();
  private final LossScaler scaler;
  private final FloatBuffer scaleBuf;
  private final OnnxTensor scale;
  private final FloatBuffer overflowBuf;
  private final OnnxTensor overflow;

  public Trainer(TrainGraph graph, ExecutionConfig config) {
    this.graph = graph;
    this.state = graph.state();
    this.session = Sessions.open(graph.model(), config);
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    int n = state.size();
    current = new OnnxTensor[n];
    next = new OnnxTensor[n];
    currentBuf = new FloatBuffer[n];
    nextBuf = new FloatBuffer[n];
    try {
      for (int i = 0; i < n; i++) {
        StateSlot s = state.get(i);
        currentBuf[i] = direct(s.initial().length);
        currentBuf[i].put(0, s.initial());
        nextBuf[i] = direct(s.initial().length);
        current[i] = OnnxTensor.createTensor(env, currentBuf[i], s.dims());
        next[i] = OnnxTensor.createTensor(env, nextBuf[i], s.dims());
      }
      imageBuf = direct((int) Tensors.numel(graph.imageDims()));
      image = OnnxTensor.createTensor(env, imageBuf, graph.imageDims());
      long batch = graph.imageDims()[0];
      labelBuf = ByteBuffer.allocateDirect((int) batch * 8).order(ByteOrder.nativeOrder()).asLongBuffer();
      labels = OnnxTensor.createTensor(env, labelBuf, new long[] {batch});
      lrBuf = direct(1);
      lr = OnnxTensor.createTensor(env, lrBuf, new long[0]);
      lossBuf = direct(1);
      loss = OnnxTensor.createTensor(env, lossBuf, new long[0]);
      if (graph.takesTeacherLogits()) {
        long[] dims = graph.teacherLogitsDims();
        teacherBuf = direct((int) Tensors.numel(dims));
        teacher = OnnxTensor.createTensor(env, teacherBuf, dims);
      } else {
        teacherBuf = null;
        teacher = null;
      }
      for (var e : graph.gradientOutputs().entrySet()) {
        StateSlot s = slot(e.getKey());
        FloatBuffer buf = direct(s.initial().length);
        gradientBufs.put(e.getKey(), buf);
        gradientTensors.put(e.getValue(), OnnxTensor.createTensor(env, buf, s.dims()));
      }
      if (graph.scalesLoss()) {
        scaler = new LossScaler(graph.mixedPrecision());
        scaleBuf = direct(1);
        scale = OnnxTensor.createTensor(env, scaleBuf, new long[0]);
        overflowBuf = direct(1);
        overflow = OnnxTensor.createTensor(env, overflowBuf, new long[0]);
      } else {
        scaler = null;
        scaleBuf = null;
        scale = null;
        overflowBuf = null;
        overflow = null;
      }
    } catch (OrtException e) {
      throw new TrainingException("cannot allocate training state: " + e.getMessage());
    }
  }

  private static FloatBuffer direct(int n) {
    return ByteBuffer.allocateDirect(Math.max(4, n * 4)).order(ByteOrder.nativeOrder()).asFloatBuffer();
  }

  private StateSlot slot(String name) {
    return state.stream().filter(s -> s.name().equals(name)).findFirst()
        .orElseThrow(() -> new TrainingException("no state tensor named " + name));
  }

  /** One optimizer step on a batch (NCHW floats, one label per image); returns the batch loss. */
  public float step(float[] images, long[] labelValues, float learningRate) {
    if (teacher != null) {
      throw new TrainingException("this train graph distils: give the teacher's logits with each step");
    }
    return run(images, labelValues, learningRate);
  }

  /**
   * One optimizer step of a graph built with distillation: {@code teacherLogits} are the
   * teacher's logits for the batch's images, [batch, classes] row by row.
   */
  public float step(float[] images, long[] labelValues, float[] teacherLogits, float learningRate) {
    if (teacher == null) {
      throw new TrainingException("this train graph does not distil (built without TrainConfig.distillation)");
    }
    if (teacherLogits.length != teacherBuf.capacity()) {
      throw new TrainingException("teacher logits: expected " + teacherBuf.capacity() + " values, got "
          + teacherLogits.length);
    }
    teacherBuf.put(0, teacherLogits);
    return run(images, labelValues, learningRate);
  }

  private float run(float[] images, long[] labelValues, float learningRate) {
    imageBuf.put(0, images);
    labelBuf.put(0, labelValues);
    lrBuf.put(0, learningRate);
    Map<String, OnnxTensor> inputs = new HashMap<>();
    inputs.put(graph.imageInput(), image);
    inputs.put(graph.labelsInput(), labels);
    inputs.put(graph.learningRateInput(), lr);
    if (teacher != null) {
      inputs.put(TrainStepBuilder.TEACHER_LOGITS, teacher);
    }
    Map<String, OnnxValue> outputs = new LinkedHashMap<>();
    outputs.put(graph.lossOutput(), loss);
    for (int i = 0; i < state.size(); i++) {
      inputs.put(state.get(i).input(), current[i]);
      outputs.put(state.get(i).output(), next[i]);
    }
    outputs.putAll(gradientTensors);
    if (scaler != null) {
      scaleBuf.put(0, scaler.scale());
      inputs.put(TrainStepBuilder.LOSS_SCALE, scale);
      outputs.put(TrainStepBuilder.GRAD_OVERFLOW, overflow);
    }
    try (OrtSession.Result r = session.run(inputs, outputs)) {
      // outputs were written into the pinned buffers
    } catch (OrtException e) {
      throw new TrainingException("train step failed: " + e.getMessage());
    }
    if (scaler != null) {
      scaler.update(overflowBuf.get(0) != 0);
    }
    swap();
    enforceConstraints();
    return lossBuf.get(0);
  }

  /**
   * Keeps these constraints from now on: imposed at once on the current state, then after every
   * step. Parameters a constraint names that this graph does not train (frozen ones) keep the
   * value the pass gave them and are left out.
   */
  public void constrain(List<ParameterConstraint> added) {
    for (ParameterConstraint c : added) {
      List<String> trained = c.parameters().stream().filter(p -> state.stream()
          .anyMatch(s -> s.name().equals(p) && s.kind() == TrainGraph.StateKind.PARAMETER)).sorted().toList();
      constraints.put(c, trained);
    }
    enforceConstraints();
  }

  /** Lets constraints with a schedule update themselves before an epoch (1-based), then imposes them. */
  public void beginEpoch(int epoch, int epochs) {
    constraints.forEach((c, names) -> {
      Map<String, FloatBuffer> values = new LinkedHashMap<>();
      for (String p : names) {
        values.put(p, currentBuf[index(p)]);
      }
      c.beginEpoch(epoch, epochs, values);
    });
    enforceConstraints();
  }

  private void enforceConstraints() {
    constraints.forEach((c, names) -> {
      for (String p : names) {
        c.enforce(p, currentBuf[index(p)]);
      }
    });
  }

  private int index(String name) {
    for (int i = 0; i < state.size(); i++) {
      if (state.get(i).name().equals(name)) {
        return i;
      }
    }
    throw new TrainingException("no state tensor named " + name);
  }

  private void swap() {
    for (int i = 0; i < state.size(); i++) {
      OnnxTensor t = current[i];
      current[i] = next[i];
      next[i] = t;
      FloatBuffer b = currentBuf[i];
      currentBuf[i] = nextBuf[i];
      nextBuf[i] = b;
    }
  }

  /** A copy of a state tensor's current value (parameter, statistic or optimizer buffer). */
  public float[] value(String name) {
    for (int i = 0; i < state.size(); i++) {
      if (state.get(i).name().equals(name)) {
        float[] out = new float[state.get(i).initial().length];
        currentBuf[i].get(0, out);
        return out;
      }
    }
    throw new TrainingException("no state tensor named " + name);
  }

  /** The gradient of a parameter from the last step (needs TrainConfig.outputGradients). */
  public float[] gradient(String parameter) {
    FloatBuffer b = gradientBufs.get(parameter);
    if (b == null) {
      throw new TrainingException("no gradient output for " + parameter + "; build with outputGradients");
    }
    float[] out = new float[b.capacity()];
    b.get(0, out);
    return out;
  }

  /** Current values of all state tensors, by name. */
  public Map<String, float[]> state() {
    Map<String, float[]> m = new LinkedHashMap<>();
    for (StateSlot s : state) {
      m.put(s.name(), value(s.name()));
    }
    return m;
  }

  /** Replaces the state (e.g. after a K-step run elsewhere). */
  public void load(Map<String, float[]> values) {
    for (int i = 0; i < state.size(); i++) {
      float[] v = values.get(state.get(i).name());
      if (v != null) {
        currentBuf[i].put(0, v);
      }
    }
    enforceConstraints();
  }

  public TrainGraph graph() {
    return graph;
  }

  /** The dynamic loss scale and its counts, for a mixed-precision graph; empty for a float32 one. */
  public Optional<LossScaler> lossScaler() {
    return Optional.ofNullable(scaler);
  }

  @Override
  public void close() {
    for (int i = 0; i < state.size(); i++) {
      current[i].close();
      next[i].close();
    }
    image.close();
    labels.close();
    lr.close();
    loss.close();
    if (teacher != null) {
      teacher.close();
    }
    gradientTensors.values().forEach(OnnxTensor::close);
    if (scale != null) {
      scale.close();
      overflow.close();
    }
    try {
      session.close();
    } catch (OrtException e) {
      throw new TrainingException("cannot close session: " + e.getMessage());
    }
  }
}
