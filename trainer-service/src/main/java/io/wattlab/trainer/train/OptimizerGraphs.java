package io.wattlab.trainer.train;

import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.train.TrainGraph.StateKind;
import io.wattlab.trainer.train.TrainGraph.StateSlot;
import java.util.ArrayList;
import java.util.List;

/** Emits the nodes of one optimizer update per parameter, and the optimizer's state slots. */
final class OptimizerGraphs {
  static final String ADAM_STEP = "adamw.step";

  private OptimizerGraphs() {}

  /** Writes the updated parameter to {@code next}; returns the per-parameter state it added. */
  static List<StateSlot> update(GraphBuilder b, Optimizer optimizer, String p, String grad, String next, long[] dims,
      String lr) {
    List<StateSlot> state = new ArrayList<>();
    float[] zeros = new float[(int) Tensors.numel(dims)];
    if (optimizer instanceof Optimizer.Sgd sgd) {
      String g = grad;
      if (sgd.weightDecay() > 0) {
        g = b.add(g, b.mul(p, b.scalar(sgd.weightDecay(), Tensors.FLOAT)));
      }
      String direction = g;
      if (sgd.momentum() > 0) {
        String buf = p + ".momentum";
        String bufNext = buf + ".next";
        b.opInto(bufNext, "Add", List.of(b.mul(buf, b.scalar(sgd.momentum(), Tensors.FLOAT)), g));
        state.add(new StateSlot(buf, buf, bufNext, dims, zeros, StateKind.OPTIMIZER));
        direction = sgd.nesterov() ? b.add(g, b.mul(bufNext, b.scalar(sgd.momentum(), Tensors.FLOAT))) : bufNext;
      }
      b.opInto(next, "Sub", List.of(p, b.mul(direction, lr)));
      return state;
    }
    Optimizer.AdamW adam = (Optimizer.AdamW) optimizer;
    String m = p + ".adam_m";
    String v = p + ".adam_v";
    String mNext = m + ".next";
    String vNext = v + ".next";
    b.opInto(mNext, "Add", List.of(b.mul(m, b.scalar(adam.beta1(), Tensors.FLOAT)),
        b.mul(grad, b.scalar(1 - adam.beta1(), Tensors.FLOAT))));
    b.opInto(vNext, "Add", List.of(b.mul(v, b.scalar(adam.beta2(), Tensors.FLOAT)),
        b.mul(b.mul(grad, grad), b.scalar(1 - adam.beta2(), Tensors.FLOAT))));
    state.add(new StateSlot(m, m, mNext, dims, zeros, StateKind.OPTIMIZER));
    state.add(new StateSlot(v, v, vNext, dims, zeros.clone(), StateKind.OPTIMIZER));
    String t = ADAM_STEP + ".next";
    String one = b.scalar(1, Tensors.FLOAT);
    String bc1 = b.sub(one, b.op("Pow", b.scalar(adam.beta1(), Tensors.FLOAT), t));
    String bc2 = b.sub(one, b.op("Pow", b.scalar(adam.beta2(), Tensors.FLOAT), t));
    String decayed = b.mul(p, b.sub(one, b.mul(lr, b.scalar(adam.weightDecay(), Tensors.FLOAT))));
    String denom = b.add(b.div(b.sqrt(vNext), b.sqrt(bc2)), b.scalar(adam.epsilon(), Tensors.FLOAT));
    String stepSize = b.div(lr, bc1);
    b.opInto(next, "Sub", List.of(decayed, b.mul(b.div(mNext, denom), stepSize)));
    return state;
  }

  /** State shared by all parameters: AdamW's step counter. */
  static void addSharedState(GraphBuilder b, Optimizer optimizer, List<StateSlot> state, Graph g) {
    if (optimizer instanceof Optimizer.AdamW && state.stream().anyMatch(s -> s.kind() == StateKind.PARAMETER)) {
      g.addInput(ADAM_STEP, new TensorType(Tensors.FLOAT, new long[0]));
      b.opInto(ADAM_STEP + ".next", "Add", List.of(ADAM_STEP, b.scalar(1, Tensors.FLOAT)));
      state.add(new StateSlot(ADAM_STEP, ADAM_STEP, ADAM_STEP + ".next", new long[0], new float[1], StateKind.OPTIMIZER));
    }
  }
}
