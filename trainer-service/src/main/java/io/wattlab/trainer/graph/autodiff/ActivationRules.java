package io.wattlab.trainer.graph.autodiff;

import io.wattlab.trainer.onnx.Tensors;

/** Gradients of activations, softmax, log-softmax and dropout. */
final class ActivationRules {
  private ActivationRules() {}

  static void register(GradientRegistry r) {
    // Relu passes the gradient where its output is positive (as PyTorch's threshold_backward).
    r.register("Relu", g -> g.GI(0, g.b().where(g.b().greater(g.O(0), g.scalar(0)), g.GO(0), g.scalar(0))));
    r.register("Sigmoid", g -> g.GI(0, g.b().mul(g.GO(0),
        g.b().mul(g.O(0), g.b().sub(g.scalar(1), g.O(0))))));
    r.register("Tanh", g -> g.GI(0, g.b().mul(g.GO(0),
        g.b().sub(g.scalar(1), g.b().mul(g.O(0), g.O(0))))));
    r.register("HardSigmoid", g -> {
      double alpha = g.node().attrFloat("alpha", 0.2f);
      String inside = g.b().and(g.b().greater(g.O(0), g.scalar(0)), g.b().less(g.O(0), g.scalar(1)));
      g.GI(0, g.b().where(inside, g.b().mul(g.GO(0), g.scalar(alpha)), g.scalar(0)));
    });
    r.register("HardSwish", g -> {
      // y = x * clip(x/6 + 1/2, 0, 1): 0 below -3, x/3 + 1/2 inside, 1 above 3.
      String x = g.I(0);
      String middle = g.b().mul(g.GO(0), g.b().add(g.b().mul(x, g.scalar(1.0 / 3.0)), g.scalar(0.5)));
      String upper = g.b().where(g.b().greater(x, g.scalar(3)), g.GO(0), middle);
      g.GI(0, g.b().where(g.b().less(x, g.scalar(-3)), g.scalar(0), upper));
    });
    r.register("Clip", g -> {
      // Pass-through strictly inside (min, max), as PyTorch's hardtanh (ReLU6) backward.
      String x = g.I(0);
      String mask = null;
      String min = clipBound(g, 1, "min");
      String max = clipBound(g, 2, "max");
      if (min != null) {
        mask = g.b().greater(x, min);
      }
      if (max != null) {
        String m = g.b().less(x, max);
        mask = mask == null ? m : g.b().and(mask, m);
      }
      g.GI(0, mask == null ? g.GO(0) : g.b().where(mask, g.GO(0), g.scalar(0)));
    });
    r.register("Softmax", g -> {
      long axis = g.node().attrInt("axis", -1);
      String dot = g.b().reduceSum(g.b().mul(g.GO(0), g.O(0)), true, axis);
      g.GI(0, g.b().mul(g.O(0), g.b().sub(g.GO(0), dot)));
    });
    r.register("LogSoftmax", g -> {
      long axis = g.node().attrInt("axis", -1);
      String total = g.b().reduceSum(g.GO(0), true, axis);
      g.GI(0, g.b().sub(g.GO(0), g.b().mul(g.b().exp(g.O(0)), total)));
    });
    r.register("Dropout", g -> {
      if (g.node().output(1).isEmpty()) {
        g.GI(0, g.GO(0)); // inference-mode dropout is the identity
        return;
      }
      double ratio = dropoutRatio(g);
      String mask = g.b().cast(g.O(1), g.elemType());
      g.GI(0, g.b().mul(g.b().mul(g.GO(0), mask), g.scalar(ratio >= 1 ? 0 : 1 / (1 - ratio))));
    });
  }

  private static String clipBound(GradientContext g, int input, String attr) {
    if (!g.I(input).isEmpty()) {
      return g.I(input);
    }
    if (g.node().hasAttr(attr)) {
      return g.scalar(g.node().attrFloat(attr, 0));
    }
    return null;
  }

  static double dropoutRatio(GradientContext g) {
    if (g.node().hasAttr("ratio")) {
      return g.node().attrFloat("ratio", 0.5f);
    }
    if (!g.I(1).isEmpty()) {
      var t = g.b().graph().initializers().get(g.I(1));
      if (t == null) {
        throw g.unsupported("the dropout ratio must be a constant");
      }
      return Tensors.toDoubles(t)[0];
    }
    return 0.5;
  }
}
