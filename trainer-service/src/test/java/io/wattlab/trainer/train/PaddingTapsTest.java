package io.wattlab.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.Node;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Cropped kernels give Conv's outputs and gradients (the cut taps' gradient is exactly zero). */
class PaddingTapsTest {
  private static final long[] ONE = {1, 1};
  private static final long[] PAD1 = {1, 1, 1, 1};

  @Test
  void threeByThreeOnOnePixelIsOneByOne() throws Exception {
    // ResNet-18's layer4 at 32x32: 512 channels on a 1x1 map; here smaller.
    List<String> ops = DepthwiseConvsTest.compareWithConv(new long[] {4, 6, 1, 1}, new long[] {5, 6, 3, 3}, 1, ONE,
        PAD1, ONE, true, PaddingTaps::crop);
    assertTrue(ops.contains("MatMul"), ops.toString());
    Graph g = DepthwiseConvsTest.graph(new long[] {4, 6, 1, 1}, new long[] {5, 6, 3, 3}, 1, ONE, PAD1, ONE, false);
    PaddingTaps.crop(g);
    Node conv = g.nodes().stream().filter(n -> n.opType().equals("Conv")).findFirst().orElseThrow();
    assertEquals(List.of(1L, 1L), java.util.Arrays.stream(conv.attrInts("kernel_shape")).boxed().toList());
    assertEquals(List.of(0L, 0L, 0L, 0L), java.util.Arrays.stream(conv.attrInts("pads")).boxed().toList());
  }

  @Test
  void stridedAndGroupedWindowsOverPadding() throws Exception {
    // layer4.0.conv1: stride 2 from a 2x2 map to 1x1 reads a 2x2 corner of the kernel.
    DepthwiseConvsTest.compareWithConv(new long[] {3, 4, 2, 2}, new long[] {6, 4, 3, 3}, 1, new long[] {2, 2}, PAD1,
        ONE, false, PaddingTaps::crop);
    // Grouped, a 5x5 kernel with pad 2 on a 2x3 map, asymmetric pads.
    DepthwiseConvsTest.compareWithConv(new long[] {2, 4, 2, 3}, new long[] {4, 2, 5, 5}, 2, ONE,
        new long[] {2, 2, 1, 2}, ONE, true, PaddingTaps::crop);
  }

  @Test
  void kernelsThatSeeTheInputEverywhereAndDilatedOnesStay() {
    assertEquals(0, PaddingTaps.crop(DepthwiseConvsTest.graph(new long[] {2, 4, 2, 2}, new long[] {4, 4, 3, 3}, 1, ONE,
        PAD1, ONE, false)), "on a 2x2 map every tap of a padded 3x3 kernel meets the input");
    assertEquals(0, PaddingTaps.crop(DepthwiseConvsTest.graph(new long[] {2, 4, 1, 1}, new long[] {4, 4, 3, 3}, 1, ONE,
        new long[] {2, 2, 2, 2}, new long[] {2, 2}, false)), "dilated");
  }
}
