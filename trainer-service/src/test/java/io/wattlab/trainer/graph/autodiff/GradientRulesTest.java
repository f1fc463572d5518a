package io.wattlab.trainer.graph.autodiff;

import static io.wattlab.trainer.graph.Attrs.f;
import static io.wattlab.trainer.graph.Attrs.i;
import static io.wattlab.trainer.graph.Attrs.ints;
import static io.wattlab.trainer.graph.Attrs.s;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wattlab.trainer.graph.GraphException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Every gradient rule against central finite differences, in float64 where ONNX Runtime allows. */
class GradientRulesTest {
  private static final double EPS64 = 1e-6;
  private static final double TOL64 = 1e-6;
  private static final double EPS32 = 1e-2;
  private static final double TOL32 = 2e-2;

  private static void binary(String op, double lo, double hi, long[] a, long[] b) throws Exception {
    GradientCheck.float64().input("a", lo, hi, a).input("b", lo, hi, b)
        .node(op, List.of("a", "b"), List.of("y")).output("y").check(EPS64, TOL64);
  }

  @Test
  void addSubMulDivWithBroadcasting() throws Exception {
    for (String op : List.of("Add", "Sub", "Mul", "Div")) {
      binary(op, 0.5, 2, new long[] {2, 3, 4}, new long[] {3, 1});
      binary(op, 0.5, 2, new long[] {1, 4}, new long[] {2, 3, 1});
    }
  }

  @Test
  void unaryActivations() throws Exception {
    for (String op : List.of("Relu", "Sigmoid", "Tanh", "Neg", "Identity", "Exp")) {
      GradientCheck.float64().input("x", -2, 2, 3, 5).node(op, List.of("x"), List.of("y")).output("y")
          .check(EPS64, TOL64);
    }
    GradientCheck.float64().input("x", 0.5, 2, 3, 5).node("Sqrt", List.of("x"), List.of("y")).output("y")
        .check(EPS64, TOL64);
  }

  @Test
  void hardSigmoidAndHardSwish() throws Exception {
    GradientCheck.float32().input("x", -5, 5, 4, 6).node("HardSigmoid", List.of("x"), List.of("y"),
        f("alpha", 1.0 / 6), f("beta", 0.5)).output("y").check(EPS32, TOL32);
    GradientCheck.float32().input("x", -5, 5, 4, 6).node("HardSwish", List.of("x"), List.of("y"))
        .output("y").check(EPS32, TOL32);
  }

  @Test
  void whereSendsEachBranchItsShareOfTheGradient() throws Exception {
    // Where's input 0 is its boolean condition: the rule's zeros must take the output's type, not that one.
    GradientCheck.float64().input("a", -1, 1, 2, 3).input("b", -1, 1, 3)
        .bools("c", new long[] {2, 3}, true, false, true, false, false, true)
        .node("Where", List.of("c", "a", "b"), List.of("y")).output("y").check(EPS64, TOL64);
  }

  @Test
  void clipWithBoundsAsInputs() throws Exception {
    GradientCheck.float64().input("x", -2, 8, 4, 6).constant("lo", new long[0], 0).constant("hi", new long[0], 6)
        .node("Clip", List.of("x", "lo", "hi"), List.of("y")).output("y").check(EPS64, TOL64);
  }

  @Test
  void softmaxAndLogSoftmax() throws Exception {
    for (String op : List.of("Softmax", "LogSoftmax")) {
      GradientCheck.float64().input("x", -2, 2, 3, 5).node(op, List.of("x"), List.of("y"), i("axis", 1))
          .output("y").check(EPS64, TOL64);
      GradientCheck.float64().input("x", -2, 2, 2, 3, 4).node(op, List.of("x"), List.of("y"), i("axis", -1))
          .output("y").check(EPS64, TOL64);
    }
  }

  @Test
  void gemmAllTransposes() throws Exception {
    for (int ta = 0; ta < 2; ta++) {
      for (int tb = 0; tb < 2; tb++) {
        long[] a = ta == 0 ? new long[] {3, 4} : new long[] {4, 3};
        long[] b = tb == 0 ? new long[] {4, 5} : new long[] {5, 4};
        GradientCheck.float64().input("a", -1, 1, a).input("b", -1, 1, b).input("c", -1, 1, 5)
            .node("Gemm", List.of("a", "b", "c"), List.of("y"), i("transA", ta), i("transB", tb),
                f("alpha", 0.7), f("beta", 1.3))
            .output("y").check(EPS64, TOL64);
      }
    }
  }

  @Test
  void matMulBatchedWithBroadcast() throws Exception {
    GradientCheck.float64().input("a", -1, 1, 2, 3, 4).input("b", -1, 1, 4, 5)
        .node("MatMul", List.of("a", "b"), List.of("y")).output("y").check(EPS64, TOL64);
  }

  @Test
  void convPlainStridedPaddedDilated() throws Exception {
    conv(new long[] {2, 3, 7, 7}, new long[] {4, 3, 3, 3}, 1, new long[] {1, 1}, new long[] {1, 1, 1, 1}, new long[] {1, 1});
    conv(new long[] {2, 3, 8, 7}, new long[] {4, 3, 3, 3}, 1, new long[] {2, 2}, new long[] {1, 1, 1, 1}, new long[] {1, 1});
    conv(new long[] {1, 2, 9, 9}, new long[] {3, 2, 3, 2}, 1, new long[] {2, 1}, new long[] {0, 1, 2, 0}, new long[] {2, 1});
    conv(new long[] {2, 3, 6, 6}, new long[] {5, 3, 1, 1}, 1, new long[] {2, 2}, new long[] {0, 0, 0, 0}, new long[] {1, 1});
  }

  @Test
  void convPointwise() throws Exception {
    // Stride-1 unpadded 1x1 kernels: dX by Conv, dW by one Gemm; a 1x1 map as in MobileNet's last stages.
    conv(new long[] {2, 3, 5, 4}, new long[] {4, 3, 1, 1}, 1, new long[] {1, 1}, new long[] {0, 0, 0, 0}, new long[] {1, 1});
    conv(new long[] {3, 6, 1, 1}, new long[] {2, 6, 1, 1}, 1, new long[] {1, 1}, new long[] {0, 0, 0, 0}, new long[] {1, 1});
  }

  @Test
  void convGroupedAndDepthwise() throws Exception {
    conv(new long[] {2, 4, 6, 6}, new long[] {6, 2, 3, 3}, 2, new long[] {1, 1}, new long[] {1, 1, 1, 1}, new long[] {1, 1});
    conv(new long[] {2, 4, 7, 7}, new long[] {4, 1, 3, 3}, 4, new long[] {2, 2}, new long[] {1, 1, 1, 1}, new long[] {1, 1});
    conv(new long[] {1, 3, 6, 6}, new long[] {6, 1, 3, 3}, 3, new long[] {1, 1}, new long[] {1, 1, 1, 1}, new long[] {1, 1});
    conv(new long[] {2, 3, 8, 7}, new long[] {3, 1, 3, 3}, 3, new long[] {1, 1}, new long[] {2, 1, 1, 2}, new long[] {2, 1});
    conv(new long[] {2, 4, 7, 7}, new long[] {6, 2, 3, 3}, 2, new long[] {1, 1}, new long[] {0, 1, 2, 1}, new long[] {1, 2});
  }

  private static void conv(long[] x, long[] w, long group, long[] strides, long[] pads, long[] dil) throws Exception {
    GradientCheck.float32().input("x", -1, 1, x).input("w", -1, 1, w).input("b", -1, 1, w[0])
        .node("Conv", List.of("x", "w", "b"), List.of("y"), i("group", group), ints("strides", strides),
            ints("pads", pads), ints("dilations", dil), ints("kernel_shape", w[2], w[3]))
        .output("y").check(EPS32, TOL32);
  }

  @Test
  void maxPoolOverlappingWindows() throws Exception {
    GradientCheck.float64().input("x", -1, 1, 2, 3, 7, 7).node("MaxPool", List.of("x"), List.of("y"),
        ints("kernel_shape", 3, 3), ints("strides", 2, 2), ints("pads", 1, 1, 1, 1)).output("y").check(EPS64, TOL64);
  }

  @Test
  void averagePoolWithAndWithoutPadCounting() throws Exception {
    GradientCheck.float32().input("x", -1, 1, 2, 3, 6, 6).node("AveragePool", List.of("x"), List.of("y"),
        ints("kernel_shape", 2, 2), ints("strides", 2, 2)).output("y").check(EPS32, TOL32);
    GradientCheck.float32().input("x", -1, 1, 1, 2, 5, 5).node("AveragePool", List.of("x"), List.of("y"),
        ints("kernel_shape", 3, 3), ints("strides", 2, 2), ints("pads", 1, 1, 1, 1), i("count_include_pad", 0))
        .output("y").check(EPS32, TOL32);
    GradientCheck.float32().input("x", -1, 1, 1, 2, 5, 5).node("AveragePool", List.of("x"), List.of("y"),
        ints("kernel_shape", 3, 3), ints("strides", 1, 1), ints("pads", 1, 1, 1, 1), i("count_include_pad", 1))
        .output("y").check(EPS32, TOL32);
  }

  @Test
  void globalAveragePool() throws Exception {
    GradientCheck.float32().input("x", -1, 1, 2, 3, 4, 5).node("GlobalAveragePool", List.of("x"), List.of("y"))
        .output("y").check(EPS32, TOL32);
  }

  @Test
  void reductions() throws Exception {
    GradientCheck.float64().input("x", -1, 1, 2, 3, 4).node("ReduceMean", List.of("x"), List.of("y"),
        ints("axes", 0, 2), i("keepdims", 1)).output("y").check(EPS64, TOL64);
    GradientCheck.float64().input("x", -1, 1, 2, 3, 4).node("ReduceMean", List.of("x"), List.of("y"),
        ints("axes", 1), i("keepdims", 0)).output("y").check(EPS64, TOL64);
    GradientCheck.float64().input("x", -1, 1, 2, 3, 4).longs("axes", -1)
        .node("ReduceSum", List.of("x", "axes"), List.of("y"), i("keepdims", 0)).output("y").check(EPS64, TOL64);
  }

  @Test
  void concatAndSplit() throws Exception {
    GradientCheck.float64().input("a", -1, 1, 2, 3, 2).input("b", -1, 1, 2, 1, 2)
        .node("Concat", List.of("a", "b"), List.of("y"), i("axis", 1)).output("y").check(EPS64, TOL64);
    GradientCheck.float64().input("x", -1, 1, 2, 5).longs("split", 2, 3)
        .node("Split", List.of("x", "split"), List.of("p", "q"), i("axis", 1)).output("p").output("q")
        .check(EPS64, TOL64);
    // only one part used: the other gets a zero gradient
    GradientCheck.float64().input("x", -1, 1, 2, 6).longs("split", 3, 3)
        .node("Split", List.of("x", "split"), List.of("p", "q"), i("axis", 1)).output("q").check(EPS64, TOL64);
  }

  @Test
  void reshapesAndTranspose() throws Exception {
    GradientCheck.float64().input("x", -1, 1, 2, 3, 4).node("Flatten", List.of("x"), List.of("y"), i("axis", 1))
        .output("y").check(EPS64, TOL64);
    GradientCheck.float64().input("x", -1, 1, 2, 3, 4).longs("shape", 4, -1)
        .node("Reshape", List.of("x", "shape"), List.of("y")).output("y").check(EPS64, TOL64);
    GradientCheck.float64().input("x", -1, 1, 2, 3, 4).node("Transpose", List.of("x"), List.of("y"),
        ints("perm", 2, 0, 1)).output("y").check(EPS64, TOL64);
    GradientCheck.float64().input("x", -1, 1, 2, 1, 4).longs("axes", 1)
        .node("Squeeze", List.of("x", "axes"), List.of("y")).output("y").check(EPS64, TOL64);
    GradientCheck.float64().input("x", -1, 1, 2, 4).longs("axes", 0, 3)
        .node("Unsqueeze", List.of("x", "axes"), List.of("y")).output("y").check(EPS64, TOL64);
  }

  @Test
  void constantPad() throws Exception {
    GradientCheck.float64().input("x", -1, 1, 1, 2, 3, 3).longs("pads", 0, 0, 1, 2, 0, 0, 2, 1)
        .node("Pad", List.of("x", "pads"), List.of("y"), s("mode", "constant")).output("y").check(EPS64, TOL64);
  }

  @Test
  void trainingBatchNormalizationWithBatchStatistics() throws Exception {
    // Only y feeds the loss: in a train step mean and var feed the running statistics, which no loss reads.
    List<String> outs = List.of("y", "mean", "var", "inv_std", "centered", "scale");
    GradientCheck.float64().input("x", -2, 2, 3, 2, 3, 3).input("gamma", 0.5, 2, 2).input("beta", -1, 1, 2)
        .node(NormalizationRules.NORMALIZE, List.of("x", "gamma", "beta"), outs, f("epsilon", 1e-5))
        .output("y").check(EPS64, 1e-5);
    GradientCheck.float64().input("x", -2, 2, 4, 3).input("gamma", 0.5, 2, 3).input("beta", -1, 1, 3)
        .node(NormalizationRules.NORMALIZE, List.of("x", "gamma", "beta"), outs, f("epsilon", 1e-5))
        .output("y").check(EPS64, 1e-5);
    // Channels last, [N, H·W, C], as the trainer's ChannelsLast pass makes it.
    GradientCheck.float64().input("x", -2, 2, 3, 4, 2).input("gamma", 0.5, 2, 2).input("beta", -1, 1, 2)
        .node(NormalizationRules.NORMALIZE, List.of("x", "gamma", "beta"), outs, f("epsilon", 1e-5),
            GradientCheck.i("channel_axis", 2))
        .output("y").check(EPS64, 1e-5);
  }

  @Test
  void dropoutInInferenceModeIsIdentity() throws Exception {
    GradientCheck.float32().input("x", -1, 1, 3, 4).node("Dropout", List.of("x"), List.of("y"))
        .output("y").check(EPS32, TOL32);
  }

  @Test
  void everyListedOpHasARule() {
    GradientRegistry r = GradientRegistry.standard();
    for (String op : List.of("Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "Clip", "Sigmoid",
        "HardSigmoid", "HardSwish", "Tanh", "MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean",
        "Concat", "Split", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Pad",
        "Dropout", "Softmax", "LogSoftmax")) {
      assertTrue(r.rule(op).isPresent(), op);
    }
  }

  @Test
  void anOpWithoutRuleIsNamedInTheError() {
    GraphException e = assertThrows(GraphException.class, () -> GradientCheck.float64().input("x", 0.5, 1, 3)
        .node("Log", List.of("x"), List.of("y")).output("y").check(EPS64, TOL64));
    assertTrue(e.getMessage().contains("Log") && e.getMessage().contains("opset 17"), e.getMessage());
    assertEquals(true, e.getMessage().contains("node n0"));
  }
}
