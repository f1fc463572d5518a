package io.wattlab.trainer.compress.lowrank;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.compress.Compressed;
import io.wattlab.trainer.compress.CompressionException;
import io.wattlab.trainer.compress.CompressionPass;
import io.wattlab.trainer.compress.PassParameters;
import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.onnx.Tensors;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.ejml.data.DMatrixRMaj;

/**
 * Technique {@code low_rank}: each Gemm or MatMul weight W (m×n) becomes two consecutive layers
 * holding the truncated SVD W ≈ (U_r·√S_r)(√S_r·V_rᵀ), and each Conv with group 1 becomes a
 * rank-r Conv of the same kernel, strides, pads and dilations followed by a 1×1 Conv that carries
 * the bias (the Conv weight read as Cout × Cin·k·k). A layer stays as it is where the factors
 * would not be smaller and cheaper than the weight, r·(m+n) ≥ m·n, so rank ratio 1 changes
 * nothing; grouped and depthwise Convs stay too (their per-group matrices are already thin).
 * The factors are ordinary parameters: training may change them freely and their product keeps
 * rank r by construction, so the pass leaves training no constraint.
 */
public final class LowRankPass implements CompressionPass {

  public static final String TECHNIQUE = "low_rank";

  /** Matrices whose shorter side is at most this get EJML's exact SVD; it is fast enough there. */
  static final int EXACT_MAX_SIDE = 128;
  /** Extra sketch columns beyond the rank: Halko et al. (2011, section 4.2) suggest p = 5 or 10. */
  static final int OVERSAMPLING = 10;
  /** Power iterations for the trained weights' slowly decaying spectra (Halko et al., section 4.5). */
  static final int POWER_ITERATIONS = 1;
  /** The energy rule's first sketch width when the SVD is randomized; it doubles until enough. */
  static final int FIRST_ENERGY_SKETCH = 128;
  private static final long SEED = 0x10ea5eedL;

  private final PassParameters parameters;
  private final RankRule rule;

  public LowRankPass(PassParameters parameters) {
    this.parameters = parameters;
    this.rule = RankRule.read(parameters);
  }

  @Override
  public String technique() {
    return TECHNIQUE;
  }

  @Override
  public PassParameters parameters() {
    return parameters;
  }

  @Override
  public Compressed apply(ModelProto model) {
    Graph g = Graph.fromModel(model);
    Map<String, Integer> uses = uses(g);
    List<String> factorized = new ArrayList<>();
    List<String> leftAlone = new ArrayList<>();
    double energyBefore = 0;
    double energyKept = 0;
    for (Node n : List.copyOf(g.nodes())) {
      if (!List.of("Gemm", "MatMul", "Conv").contains(n.opType()) || !n.domain().isEmpty()) {
        continue;
      }
      Layer layer;
      try {
        layer = layer(g, n, uses);
      } catch (LeftAlone e) {
        leftAlone.add(label(n) + ": " + e.getMessage());
        continue;
      }
      // Read wide weights transposed, so that the randomized SVD sketches the longer side
      // without a second copy of the weight (822 MB as doubles for VGG16's first classifier).
      boolean wide = layer.rows < layer.cols;
      DMatrixRMaj w = matrix(layer.weight, layer.rows, layer.cols, wide);
      double total = TruncatedSvd.frobeniusSquared(w);
      if (!Double.isFinite(total)) {
        throw new CompressionException(n.describe() + ": weight " + layer.weight.getName()
            + " holds NaN or infinite values; it has no SVD");
      }
      Choice choice;
      try {
        choice = choose(layer, w, total);
      } catch (LeftAlone e) {
        leftAlone.add(label(n) + ": " + e.getMessage());
        continue;
      } catch (ArithmeticException e) {
        throw new CompressionException(n.describe() + ": " + e.getMessage(), e);
      }
      int r = choice.rank;
      TruncatedSvd svd = wide ? choice.svd.transposed() : choice.svd;
      replace(g, layer, svd.left(r), svd.right(r), r);
      double kept = svd.energy(r);
      energyBefore += total;
      energyKept += kept;
      factorized.add(String.format(Locale.ROOT, "%s: rank %d of %d (%d×%d, %s SVD, energy %.4f)", label(n), r,
          Math.min(layer.rows, layer.cols), layer.rows, layer.cols, choice.randomized ? "randomized" : "exact",
          total == 0 ? 1 : kept / total));
    }
    Map<String, String> details = new LinkedHashMap<>();
    details.put("layers_factorized", Integer.toString(factorized.size()));
    details.put("layers_left_alone", Integer.toString(leftAlone.size()));
    details.put("retained_energy", String.format(Locale.ROOT, "%.4f", energyBefore == 0 ? 1 : energyKept / energyBefore));
    details.put("factorized", String.join("; ", factorized));
    details.put("left_alone", String.join("; ", leftAlone));
    if (factorized.isEmpty()) {
      return Compressed.of(model, details);
    }
    ModelProto.Builder out = g.toModel().toBuilder();
    // Only Conv, Gemm and MatMul are added, which every opset the engine reads has: keep the
    // model's own opset imports and IR version rather than the writer's defaults.
    out.clearOpsetImport().addAllOpsetImport(model.getOpsetImportList()).setIrVersion(model.getIrVersion());
    return Compressed.of(out.build(), details);
  }

  /**
   * A weight the pass can factor, as a rows×cols matrix in its stored order: out×in for Conv
   * and Gemm with transB 1 (W·x), in×out for MatMul and Gemm with transB 0 (x·W).
   */
  private record Layer(Node node, TensorProto weight, boolean outByIn, int rows, int cols) {}

  /** The rank picked for a layer and the SVD it comes from. */
  private record Choice(int rank, TruncatedSvd svd, boolean randomized) {}

  /** Why a layer is left as it is; caught per layer and reported, never thrown out of the pass. */
  private static final class LeftAlone extends Exception {
    LeftAlone(String reason) {
      super(reason, null, false, false);
    }
  }

  private static Layer layer(Graph g, Node n, Map<String, Integer> uses) throws LeftAlone {
    String weightName = n.input(1);
    TensorProto w = g.initializers().get(weightName);
    if (w == null) {
      throw new LeftAlone(g.initializers().containsKey(n.input(0)) && n.opType().equals("MatMul")
          ? "the weight is the first operand" : "weight " + weightName + " is not an initializer");
    }
    if (g.initializers().containsKey(n.input(0))) {
      throw new LeftAlone("both operands are initializers");
    }
    if (w.getDataType() != Tensors.FLOAT) {
      throw new LeftAlone("weight " + weightName + " is " + TensorProto.DataType.forNumber(w.getDataType())
          + ", not FLOAT");
    }
    if (uses.getOrDefault(weightName, 0) > 1) {
      throw new LeftAlone("weight " + weightName + " is shared with other nodes");
    }
    long[] d = Tensors.dims(w);
    switch (n.opType()) {
      case "Conv" -> {
        long group = n.attrInt("group", 1);
        if (group != 1) {
          throw new LeftAlone((d.length > 1 && d[1] == 1 ? "depthwise" : "grouped") + " convolution (group " + group
              + ")");
        }
        return new Layer(n, w, true, Math.toIntExact(d[0]), Math.toIntExact(Tensors.numel(d) / d[0]));
      }
      case "Gemm" -> {
        if (d.length != 2) {
          throw new LeftAlone("weight " + weightName + " has rank " + d.length);
        }
        boolean transB = n.attrInt("transB", 0) == 1;
        return new Layer(n, w, transB, Math.toIntExact(d[0]), Math.toIntExact(d[1]));
      }
      default -> {
        if (d.length != 2) {
          throw new LeftAlone("weight " + weightName + " has rank " + d.length + ", not 2");
        }
        return new Layer(n, w, false, Math.toIntExact(d[0]), Math.toIntExact(d[1]));
      }
    }
  }

  /**
   * Picks the rank by the rule and computes the SVD it needs. Factors r×(m+n) are smaller and
   * cheaper than m×n only while r·(m+n) &lt; m·n, for parameters and MACs alike: both layers run
   * at the original layer's output positions, so MACs scale as the weights do.
   */
  private Choice choose(Layer layer, DMatrixRMaj w, double total) throws LeftAlone {
    long m = layer.rows;
    long n = layer.cols;
    int shorter = (int) Math.min(m, n);
    int useful = (int) ((m * n - 1) / (m + n));
    boolean exact = shorter <= EXACT_MAX_SIDE;
    if (rule instanceof RankRule.Ratio ratio) {
      // The small epsilon keeps 0.3·10 = 3.0000000000000004 from rounding up to 4.
      int r = Math.max(1, (int) Math.ceil(ratio.ratio() * shorter - 1e-9));
      if (r > useful) {
        throw new LeftAlone(notSmaller(r, m, n));
      }
      boolean randomized = !exact && r + OVERSAMPLING < shorter;
      TruncatedSvd svd = randomized
          ? TruncatedSvd.randomized(w, r, OVERSAMPLING, POWER_ITERATIONS, SEED) : TruncatedSvd.exact(w);
      return new Choice(r, svd, randomized);
    }
    double target = ((RankRule.Energy) rule).fraction() * total * (1 - 1e-12);
    if (useful < 1) {
      throw new LeftAlone(notSmaller(1, m, n));
    }
    int width = exact ? shorter : Math.min(useful, FIRST_ENERGY_SKETCH);
    while (true) {
      boolean randomized = width + OVERSAMPLING < shorter;
      TruncatedSvd svd = randomized
          ? TruncatedSvd.randomized(w, width, OVERSAMPLING, POWER_ITERATIONS, SEED) : TruncatedSvd.exact(w);
      for (int r = 1; r <= Math.min(svd.rank(), useful); r++) {
        if (svd.energy(r) >= target) {
          return new Choice(r, svd, randomized);
        }
      }
      if (!randomized || width >= useful) {
        throw new LeftAlone(String.format(Locale.ROOT, "energy %s needs a rank above %d, and %s",
            ((RankRule.Energy) rule).fraction(), useful, notSmaller(useful + 1, m, n)));
      }
      width = Math.min(useful, 2 * width);
    }
  }

  private static String notSmaller(long r, long m, long n) {
    return String.format(Locale.ROOT, "rank %d would not cut parameters or MACs (r·(m+n) = %d ≥ m·n = %d for %d×%d)",
        r, r * (m + n), m * n, m, n);
  }

  /**
   * Puts the two factor layers where the node was. The stored matrix S ≈ L·R (L rows×r, R
   * r×cols): for W·x the input meets R first, for x·W it meets L first.
   */
  private static void replace(Graph g, Layer layer, DMatrixRMaj l, DMatrixRMaj r, int rank) {
    Node n = layer.node;
    DMatrixRMaj first = layer.outByIn ? r : l;
    DMatrixRMaj second = layer.outByIn ? l : r;
    long[] firstDims = {first.numRows, first.numCols};
    long[] secondDims = {second.numRows, second.numCols};
    Map<String, AttributeProto> firstAttrs = new LinkedHashMap<>();
    Map<String, AttributeProto> secondAttrs = new LinkedHashMap<>();
    List<String> secondExtra = List.of();
    switch (n.opType()) {
      case "Conv" -> {
        long[] d = Tensors.dims(layer.weight);
        firstDims = d.clone();
        firstDims[0] = rank;
        secondDims = new long[d.length];
        Arrays.fill(secondDims, 1);
        secondDims[0] = d[0];
        secondDims[1] = rank;
        firstAttrs.putAll(n.attributes());
        if (n.hasAttr("kernel_shape")) {
          secondAttrs.put("kernel_shape", Attrs.ints("kernel_shape", Arrays.copyOfRange(secondDims, 2, d.length)));
        }
        secondExtra = n.input(2).isEmpty() ? List.of() : List.of(n.input(2));
      }
      case "Gemm" -> {
        // Y = alpha·A'·B' + beta·C: the first layer takes A' as the node did; alpha, beta and C
        // move to the second, which sees an untransposed input.
        for (String key : List.of("transA", "transB")) {
          if (n.hasAttr(key)) {
            firstAttrs.put(key, n.attributes().get(key));
          }
        }
        for (String key : List.of("alpha", "beta", "transB")) {
          if (n.hasAttr(key)) {
            secondAttrs.put(key, n.attributes().get(key));
          }
        }
        secondExtra = n.input(2).isEmpty() ? List.of() : List.of(n.input(2));
      }
      default -> { }
    }
    String base = n.name().isEmpty() ? n.output(0) : n.name();
    String firstWeight = g.fresh(layer.weight.getName() + ".low_rank_first");
    String secondWeight = g.fresh(layer.weight.getName() + ".low_rank_second");
    String hidden = g.fresh(n.output(0) + "_low_rank");
    g.addInitializer(Tensors.floats(firstWeight, firstDims, floats(first)));
    g.addInitializer(Tensors.floats(secondWeight, secondDims, floats(second)));
    g.initializers().remove(layer.weight.getName());
    List<String> secondInputs = new ArrayList<>(List.of(hidden, secondWeight));
    secondInputs.addAll(secondExtra);
    Node a = new Node(g.fresh(base + "_low_rank_first"), n.opType(), "", List.of(n.input(0), firstWeight),
        List.of(hidden), firstAttrs);
    Node b = new Node(g.fresh(base + "_low_rank_second"), n.opType(), "", secondInputs, n.outputs(), secondAttrs);
    int at = g.nodes().indexOf(n);
    g.nodes().set(at, b);
    g.nodes().add(at, a);
  }

  /** How many node inputs (subgraphs included) read each value. */
  private static Map<String, Integer> uses(Graph g) {
    Map<String, Integer> uses = new HashMap<>();
    for (Node n : g.nodes()) {
      for (String in : n.inputs()) {
        uses.merge(in, 1, Integer::sum);
      }
      for (AttributeProto a : n.attributes().values()) {
        if (a.hasG()) {
          a.getG().getNodeList().forEach(sub -> sub.getInputList().forEach(in -> uses.merge(in, 1, Integer::sum)));
        }
      }
    }
    return uses;
  }

  /**
   * A float32 initializer as a rows×cols double matrix, or its transpose, read straight from its
   * bytes.
   */
  private static DMatrixRMaj matrix(TensorProto t, int rows, int cols, boolean transpose) {
    FloatBuffer f = t.getRawData().isEmpty() ? FloatBuffer.wrap(Tensors.toFloats(t))
        : t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    DMatrixRMaj m = transpose ? new DMatrixRMaj(cols, rows) : new DMatrixRMaj(rows, cols);
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < cols; j++) {
        m.data[transpose ? j * rows + i : i * cols + j] = f.get(i * cols + j);
      }
    }
    return m;
  }

  private static float[] floats(DMatrixRMaj m) {
    float[] f = new float[m.getNumElements()];
    for (int i = 0; i < f.length; i++) {
      f[i] = (float) m.data[i];
    }
    return f;
  }

  private static String label(Node n) {
    return (n.name().isEmpty() ? n.output(0) : n.name()) + " (" + n.opType() + ")";
  }
}
