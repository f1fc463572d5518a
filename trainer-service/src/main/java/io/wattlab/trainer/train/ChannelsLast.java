package io.wattlab.trainer.train;

import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.ShapeInference;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.graph.autodiff.NormalizationRules;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Keeps activations between batch-GEMM convolutions as [N, H·W, C], before the backward is built.
 * {@link BatchGemmConvs} computes a convolution's output as [N, H·W, M] and transposes it back to
 * NCHW, and transposes its input from NCHW to [N, H·W, C]; between two such convolutions of
 * ResNet-18 sit only BatchNorm, ReLU and the residual Add, which do not care where the channels
 * are. This pass runs them on the [N, H·W, C] values instead (BatchNorm with its channels on the
 * last axis), and lets the next convolution read that value directly, so the transposes there and
 * back — and their gradients, also transposes — are left without consumers and removed. An NCHW
 * value is still made wherever something else reads it (a pool, a Conv, the logits).
 */
final class ChannelsLast {
  /** The [N, H·W, C] values {@link BatchGemmConvs} made, and its transposed reads of NCHW values. */
  static final class Forms {
    private final Map<String, String> made = new LinkedHashMap<>();
    private final Map<String, String> reads = new LinkedHashMap<>();

    /** {@code nchw} is the transpose of {@code channelsLast}, a convolution's [N, H·W, M] product. */
    void made(String nchw, String channelsLast) {
      made.put(nchw, channelsLast);
    }

    /** {@code transposed} is [N, H·W, C], read from the NCHW value {@code nchw} for a convolution. */
    void read(String transposed, String nchw) {
      reads.put(transposed, nchw);
    }
  }

  private ChannelsLast() {}

  /**
   * Moves BatchNorm ({@link NormalizationRules#NORMALIZE}), Relu, Clip and Add onto the channels-last
   * values where their inputs have one, and points every transposed read at the channels-last form
   * of its value; {@code normalized} gets the moved normalisations' input types. Returns the number
   * of nodes moved.
   */
  static int apply(Graph g, Forms forms, Map<String, TensorType> normalized) {
    if (forms.made.isEmpty()) {
      return 0;
    }
    ShapeInference shapes = ShapeInference.run(g);
    GraphBuilder b = new GraphBuilder(g, "nhwc/");
    List<Node> order = new ArrayList<>(g.nodes());
    // Only chains that end in a convolution's read are moved: elsewhere (a BatchNorm and ReLU6
    // before a depthwise Conv, the last block before the pool) the transpose back to NCHW would
    // only move down the chain, and BatchNorm on [N, H·W, C] measured a little slower there.
    Set<String> wanted = new HashSet<>(forms.reads.values());
    for (int i = order.size() - 1; i >= 0; i--) {
      Node n = order.get(i);
      if (movable(n, shapes) && wanted.contains(n.output(0))) {
        wanted.addAll(n.inputs().subList(0, operands(n)));
      }
    }
    Map<String, String> last = new HashMap<>(forms.made);
    Map<String, String> readAs = new HashMap<>();
    forms.reads.forEach((transposed, nchw) -> readAs.putIfAbsent(nchw, transposed));
    int moved = 0;
    for (Node n : order) {
      if (!movable(n, shapes) || !wanted.contains(n.output(0))) {
        continue;
      }
      // An operand comes from a moved node or a convolution, or (an Add's other operand, a
      // block's input) is read transposed by a convolution anyway.
      List<String> inputs = new ArrayList<>(n.inputs());
      int operands = operands(n);
      for (int i = 0; i < operands; i++) {
        inputs.set(i, last.getOrDefault(n.input(i), readAs.get(n.input(i))));
      }
      boolean fromConvolution = n.inputs().subList(0, operands).stream().anyMatch(last::containsKey);
      if (inputs.subList(0, operands).contains(null) || !fromConvolution) {
        continue;
      }
      String op = n.opType();
      boolean norm = op.equals(NormalizationRules.NORMALIZE);
      long[] y = shapes.dims(n.output(0));
      List<String> outputs = new ArrayList<>(n.outputs());
      String out = g.fresh(n.output(0) + "_nhwc");
      outputs.set(0, out);
      Map<String, ai.onnx.proto.OnnxMl.AttributeProto> attrs = new LinkedHashMap<>(n.attributes());
      if (norm) {
        attrs.put("channel_axis", Attrs.i("channel_axis", 2));
        normalized.put(inputs.get(0), new TensorType(shapes.type(n.input(0)).elemType(),
            new long[] {y[0], y[2] * y[3], y[1]}));
      }
      g.nodes().remove(n);
      g.addNode(new Node(n.name(), op, n.domain(), inputs, outputs, attrs));
      b.opInto(n.output(0), "Reshape", List.of(b.transpose(out, 0, 2, 1), b.ints(y)));
      last.put(n.output(0), out);
      moved++;
    }
    Map<String, String> replace = new HashMap<>();
    forms.reads.forEach((transposed, nchw) -> {
      if (last.containsKey(nchw)) {
        replace.put(transposed, last.get(nchw));
      }
    });
    for (Node n : g.nodes()) {
      n.inputs().replaceAll(in -> replace.getOrDefault(in, in));
    }
    g.sortTopologically();
    return moved;
  }

  /** BatchNorm, Relu, Clip with scalar bounds, and Add without broadcasting, on a 4-D value. */
  private static boolean movable(Node n, ShapeInference shapes) {
    String op = n.opType();
    boolean unary = n.domain().isEmpty() && (op.equals("Relu") || op.equals("Clip"));
    boolean norm = op.equals(NormalizationRules.NORMALIZE) && n.attrInt("channel_axis", 1) == 1;
    boolean add = n.domain().isEmpty() && op.equals("Add");
    if (!(unary || norm || add) || shapes.dims(n.output(0)).length != 4) {
      return false;
    }
    if (add) {
      return Arrays.equals(shapes.dims(n.input(0)), shapes.dims(n.input(1)));
    }
    return !unary || n.inputs().stream().skip(1).allMatch(in -> in.isEmpty() || shapes.dims(in).length == 0);
  }

  /** How many leading inputs are activations (an Add's two, otherwise the first). */
  private static int operands(Node n) {
    return n.opType().equals("Add") ? 2 : 1;
  }
}
