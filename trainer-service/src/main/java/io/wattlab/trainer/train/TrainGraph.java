package io.wattlab.trainer.train;

import ai.onnx.proto.OnnxMl.ModelProto;
import java.util.List;
import java.util.Map;

/**
 * A train-step graph and how to feed it: the image, label and learning-rate inputs, the loss
 * output, and the state (parameters, BatchNorm statistics, optimizer buffers) that goes in as
 * {@code input} and comes out updated as {@code output} on every run. A mixed-precision graph
 * ({@code mixedPrecision} not null) also takes the loss scale ({@link TrainStepBuilder#LOSS_SCALE})
 * and says whether its gradients overflowed ({@link TrainStepBuilder#GRAD_OVERFLOW}).
 */
public record TrainGraph(ModelProto model, String imageInput, long[] imageDims, String labelsInput,
    String learningRateInput, String lossOutput, List<StateSlot> state, Map<String, String> gradientOutputs,
    MixedPrecision mixedPrecision) {

  /** Whether the graph scales its loss and skips steps whose gradients overflow (a mixed-precision graph). */
  public boolean scalesLoss() {
    return model.getGraph().getInputList().stream().anyMatch(i -> i.getName().equals(TrainStepBuilder.LOSS_SCALE));
  }

  /** Whether the graph takes the teacher's logits ({@link TrainStepBuilder#TEACHER_LOGITS}): built to distil. */
  public boolean takesTeacherLogits() {
    return teacherLogitsDims().length > 0;
  }

  /** The teacher logits input's shape, [batch, classes]; empty when the graph does not distil. */
  public long[] teacherLogitsDims() {
    return model.getGraph().getInputList().stream().filter(i -> i.getName().equals(TrainStepBuilder.TEACHER_LOGITS))
        .findFirst().map(i -> i.getType().getTensorType().getShape().getDimList().stream()
            .mapToLong(d -> d.getDimValue()).toArray()).orElse(new long[0]);
  }

  /** What a state tensor is, which decides what export keeps of it. */
  public enum StateKind { PARAMETER, STATISTIC, OPTIMIZER }

  /** One loop-carried tensor: its graph input and output names, shape and initial value. */
  public record StateSlot(String name, String input, String output, long[] dims, float[] initial, StateKind kind) {}
}
