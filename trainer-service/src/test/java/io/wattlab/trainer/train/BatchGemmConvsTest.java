package io.wattlab.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.Tensors;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The batch-GEMM rewrite of dense convolutions against ONNX Runtime's Conv and the Conv gradient
 * rule: same output, input, weight and bias gradients up to float32 rounding, on ResNet-18's
 * layers at 32x32 (8x8 to 1x1 maps, 3x3 pad 1, stride 1 and 2, the 1x1 stride-2 shortcut) and
 * on shapes that exercise the selection's indexing.
 */
class BatchGemmConvsTest {
  private static final long[] ONE = {1, 1};
  private static final long[] TWO = {2, 2};
  private static final long[] PAD1 = {1, 1, 1, 1};
  private static final long[] NO_PAD = {0, 0, 0, 0};

  @Test
  void resnetLayersBecomeOneGemmOverTheBatch() throws Exception {
    List<String> ops = check(new long[] {2, 4, 8, 8}, new long[] {64, 4, 3, 3}, ONE, PAD1, ONE, false);
    assertFalse(ops.contains("Conv"), ops.toString());
    assertEquals(1, ops.stream().filter("Gemm"::equals).count(), ops.toString());
    assertFalse(check(new long[] {2, 4, 8, 8}, new long[] {64, 4, 3, 3}, TWO, PAD1, ONE, true).contains("Conv"));
    assertFalse(check(new long[] {2, 4, 8, 8}, new long[] {64, 4, 1, 1}, TWO, NO_PAD, ONE, false).contains("Conv"));
    assertFalse(check(new long[] {2, 6, 2, 2}, new long[] {6, 6, 3, 3}, ONE, PAD1, ONE, true).contains("Conv"));
  }

  @Test
  void aPointwiseConvSkipsTheSelection() throws Exception {
    List<String> ops = check(new long[] {4, 5, 1, 1}, new long[] {7, 5, 1, 1}, ONE, NO_PAD, ONE, true);
    assertFalse(ops.contains("MatMul") || ops.contains("Conv"), ops.toString());
    ops = check(new long[] {4, 5, 2, 3}, new long[] {7, 5, 1, 1}, ONE, NO_PAD, ONE, false);
    assertFalse(ops.contains("MatMul") || ops.contains("Conv"), ops.toString());
  }

  @Test
  void selectionFollowsStridesPadsAndDilations() throws Exception {
    // Not square, asymmetric pads, dilation, a kernel that is not square either.
    assertFalse(check(new long[] {2, 3, 3, 5}, new long[] {16, 3, 3, 2}, new long[] {2, 1},
        new long[] {0, 1, 2, 0}, new long[] {1, 2}, true).contains("Conv"));
    assertFalse(check(new long[] {2, 4, 4, 4}, new long[] {16, 4, 5, 5}, ONE, new long[] {2, 2, 2, 2}, ONE,
        false).contains("Conv"));
  }

  @Test
  void largeMapsFewOutputChannelsAndGroupsKeepTheirConv() {
    Graph large = DepthwiseConvsTest.graph(new long[] {2, 4, 16, 16}, new long[] {512, 4, 3, 3}, 1, ONE, PAD1,
        ONE, false);
    assertEquals(0, BatchGemmConvs.rewrite(large), "a 16x16 map stays a Conv");
    Graph narrow = DepthwiseConvsTest.graph(new long[] {2, 4, 8, 8}, new long[] {32, 4, 3, 3}, 1, ONE, PAD1,
        ONE, false);
    assertEquals(0, BatchGemmConvs.rewrite(narrow), "64 pixels and 32 output channels: the selection would cost more");
    Graph grouped = DepthwiseConvsTest.graph(new long[] {2, 4, 2, 2}, new long[] {8, 2, 3, 3}, 2, ONE, PAD1,
        ONE, false);
    assertEquals(0, BatchGemmConvs.rewrite(grouped), "grouped convolutions are not rewritten");
    Graph half = new Graph(17);
    half.addInput("x", new TensorType(Tensors.FLOAT16, new long[] {2, 4, 8, 8}));
    half.addInput("w", new TensorType(Tensors.FLOAT16, new long[] {64, 4, 3, 3}));
    half.addNode(new Node("conv", "Conv", "", List.of("x", "w"), List.of("y"),
        Map.of("pads", Attrs.ints("pads", PAD1), "kernel_shape", Attrs.ints("kernel_shape", 3, 3))));
    assertEquals(0, BatchGemmConvs.rewrite(half), "a float16 convolution keeps its Conv");
  }

  private static List<String> check(long[] x, long[] w, long[] strides, long[] pads, long[] dil, boolean bias)
      throws Exception {
    return DepthwiseConvsTest.compareWithConv(x, w, 1, strides, pads, dil, bias, BatchGemmConvs::rewrite);
  }
}
