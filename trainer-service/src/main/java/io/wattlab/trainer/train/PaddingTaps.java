package io.wattlab.trainer.train;

import ai.onnx.proto.OnnxMl.AttributeProto;
import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.ConvGeometry;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.ShapeInference;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Crops convolution kernels to the taps that ever meet the input, before the backward is built.
 * On small maps most of a kernel can only ever see padding: a 3×3 convolution with pad 1 on a 1×1
 * map (ResNet-18's last stage at 32×32) reads only its centre tap, so it is a 1×1 convolution that
 * ONNX Runtime otherwise computes over a 9× larger im2col. The kernel becomes the kept taps of w
 * and the pads shrink by the rows and columns cut off, so every output reads the same inputs
 * through the same taps; the taps cut off only ever multiplied zeros, and their gradient is
 * exactly zero. Dilated convolutions are left alone.
 */
final class PaddingTaps {
  private PaddingTaps() {}

  /** Crops every Conv whose kernel reaches only padding on some side; returns how many it changed. */
  static int crop(Graph g) {
    ShapeInference shapes = ShapeInference.run(g);
    GraphBuilder b = new GraphBuilder(g, "crop/");
    int cropped = 0;
    List<Node> nodes = g.nodes();
    for (int idx = 0; idx < nodes.size(); idx++) {
      Node n = nodes.get(idx);
      if (!n.opType().equals("Conv") || !n.domain().isEmpty()) {
        continue;
      }
      long[] x = shapes.dims(n.input(0));
      long[] w = shapes.dims(n.input(1));
      long[] y = shapes.dims(n.output(0));
      long[] dil = ConvGeometry.dilations(n, x.length - 2);
      if (x.length != 4 || dil[0] != 1 || dil[1] != 1) {
        continue;
      }
      long[] strides = ConvGeometry.strides(n, 2);
      long[] pads = ConvGeometry.pads(n, x, w);
      long[] lo = new long[2];
      long[] hi = new long[2];
      long[] newPads = new long[4];
      boolean smaller = false;
      boolean valid = true;
      for (int i = 0; i < 2; i++) {
        // Tap k meets the input for output o when 0 <= o*s - padBegin + k < H.
        lo[i] = Math.max(0, pads[i] - (y[2 + i] - 1) * strides[i]);
        hi[i] = Math.min(w[2 + i] - 1, x[2 + i] + pads[i] - 1);
        long kernel = hi[i] - lo[i] + 1;
        newPads[i] = pads[i] - lo[i];
        newPads[2 + i] = Math.max(0, (y[2 + i] - 1) * strides[i] + kernel - x[2 + i] - newPads[i]);
        long out = (x[2 + i] + newPads[i] + newPads[2 + i] - kernel) / strides[i] + 1;
        valid &= kernel > 0 && out == y[2 + i];
        smaller |= kernel < w[2 + i];
      }
      if (!smaller || !valid) {
        continue;
      }
      // Slice and its gradient, Pad, run one row at a time on ONNX Runtime's CPU (7 ms to pad a
      // 512x512 dW back to 3x3); a MatMul with a 0/1 selection of the kept taps copies them
      // exactly in one GEMM, and its gradient puts them back with zeros in another.
      long kh = hi[0] - lo[0] + 1;
      long kw = hi[1] - lo[1] + 1;
      double[] select = new double[(int) (w[2] * w[3] * kh * kw)];
      for (long i = 0; i < kh; i++) {
        for (long j = 0; j < kw; j++) {
          select[(int) (((lo[0] + i) * w[3] + lo[1] + j) * kh * kw + i * kw + j)] = 1;
        }
      }
      String s = b.constant(shapes.type(n.input(1)).elemType(), new long[] {w[2] * w[3], kh * kw}, select);
      String kernel = b.reshape(b.matmul(b.reshape(n.input(1), w[0] * w[1], w[2] * w[3]), s), w[0], w[1], kh, kw);
      Map<String, AttributeProto> attrs = new LinkedHashMap<>(n.attributes());
      attrs.remove("auto_pad");
      attrs.put("pads", Attrs.ints("pads", newPads));
      attrs.put("kernel_shape", Attrs.ints("kernel_shape", kh, kw));
      List<String> inputs = new ArrayList<>(n.inputs());
      inputs.set(1, kernel);
      nodes.set(idx, new Node(n.name(), n.opType(), n.domain(), inputs, n.outputs(), attrs));
      cropped++;
    }
    g.sortTopologically();
    return cropped;
  }
}
