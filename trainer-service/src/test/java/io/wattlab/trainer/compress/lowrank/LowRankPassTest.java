package io.wattlab.trainer.compress.lowrank;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.compress.Compressed;
import io.wattlab.trainer.compress.CompressionException;
import io.wattlab.trainer.compress.CompressionPass;
import io.wattlab.trainer.compress.InvalidCompressionException;
import io.wattlab.trainer.compress.PassReport;
import io.wattlab.trainer.compress.Techniques;
import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.model.ModelFacts;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.testing.TorchExports;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.ForwardModel;
import io.wattlab.trainer.train.TrainConfig;
import io.wattlab.trainer.train.TrainStepBuilder;
import io.wattlab.trainer.train.Trainer;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.SingularOps_DDRM;
import org.junit.jupiter.api.Test;

/**
 * The low_rank pass on torch exports (resnet18 and mobilenet_v2 at 32 px, reference.py's mlp and
 * tiny CNN), checked through real ONNX Runtime sessions and against singular values computed
 * apart from the pass.
 */
class LowRankPassTest {

  private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

  /** A torch export at the size its tests use: the mlp reads 3×8×8, the tiny CNN 16 px, the rest 32 px. */
  private static ModelProto export(String name) throws Exception {
    return TorchExports.model(name, name.equals("mlp") ? 8 : name.equals("tiny") ? 16 : 32, 10);
  }

  private static CompressionPass pass(Map<String, String> parameters) {
    return Techniques.create("low_rank", parameters);
  }

  @Test
  void rankRatioOneLeavesEveryLayerAsItIs() throws Exception {
    for (String name : List.of("mlp", "resnet18", "mobilenet_v2")) {
      ModelProto model = export(name);
      Compressed out = pass(Map.of("rank_ratio", "1")).apply(model);
      assertSame(model, out.model(), name);
      assertEquals("0", out.details().get("layers_factorized"), name);
      float[] x = gaussian(new SplittableRandom(1), inputSize(model));
      assertArrayEquals(run(model, x), run(out.model(), x), name);
    }
  }

  @Test
  void quarterRankCutsEachFactorizedLayerByExactlyRTimesMPlusN() throws Exception {
    for (String name : List.of("mlp", "resnet18", "mobilenet_v2")) {
      ModelProto model = export(name);
      PassReport.Outcome outcome = PassReport.run(pass(Map.of("rank_ratio", "0.25")), model);
      ModelProto out = outcome.compressed().model();

      // Expected from the weight shapes alone: r = ⌈min(m, n)/4⌉, factorized where r·(m+n) < m·n.
      long expectedCut = 0;
      int expectedLayers = 0;
      int grouped = 0;
      Graph original = Graph.fromModel(model);
      for (Node n : original.nodes()) {
        TensorProto w = original.initializers().get(n.input(1));
        if (!List.of("Conv", "Gemm").contains(n.opType()) || w == null) {
          continue;
        }
        if (n.attrInt("group", 1) != 1) {
          grouped++;
          continue;
        }
        long[] d = Tensors.dims(w);
        long m = d[0];
        long k = Tensors.numel(d) / m;
        long r = (Math.min(m, k) + 3) / 4;
        if (r * (m + k) < m * k) {
          expectedCut += m * k - r * (m + k);
          expectedLayers++;
        }
      }
      assertTrue(expectedLayers > 0, name);
      Map<String, String> details = outcome.report().details();
      assertEquals(Integer.toString(expectedLayers), details.get("layers_factorized"), name + ": " + details);
      assertEquals(expectedCut, outcome.report().before().parameters() - outcome.report().after().parameters(),
          name + ": biases and BatchNorm stay, the weights shrink to the factors");
      assertTrue(outcome.report().after().macsPerImage() < outcome.report().before().macsPerImage(), name);
      assertEquals(grouped, countOccurrences(details.get("left_alone"), "convolution (group"), details.get("left_alone"));
      double retained = Double.parseDouble(details.get("retained_energy"));
      assertTrue(retained > 0.25 && retained < 1, name + " retains " + retained);

      // The factorized model loads in a fresh session and keeps the output's shape.
      try (OrtSession s = ENV.createSession(out.toByteArray())) {
        float[] y = run(s, gaussian(new SplittableRandom(2), inputSize(model)), inputShape(model));
        assertEquals(10, y.length, name);
        assertTrue(Arrays.stream(toDoubles(y)).allMatch(Double::isFinite), name);
      }
    }
  }

  @Test
  void mobilenetsDepthwiseConvolutionsStayAndItsPointwiseOnesAreFactorized() throws Exception {
    ModelProto model = export("mobilenet_v2");
    Compressed out = pass(Map.of("rank_ratio", "0.5")).apply(model);
    long depthwise = Graph.fromModel(model).nodes().stream().filter(n -> n.attrInt("group", 1) > 1).count();
    assertEquals(17, depthwise, "mobilenet_v2 has one depthwise 3×3 Conv per inverted residual block");
    assertEquals(depthwise, countOccurrences(out.details().get("left_alone"), "depthwise convolution"));
    long groupedAfter = Graph.fromModel(out.model()).nodes().stream().filter(n -> n.attrInt("group", 1) > 1).count();
    assertEquals(depthwise, groupedAfter);
    try (OrtSession s = ENV.createSession(out.model().toByteArray())) {
      assertEquals(10, run(s, gaussian(new SplittableRandom(3), inputSize(model)), inputShape(model)).length);
    }
  }

  /**
   * Eckart–Young: the rank-r truncation leaves ||W − W_r||_F² = Σ_{i>r} σᵢ², and the layer's
   * output error (W − W_r)·x is at most σ_{r+1}·||x||, with mean square Σ_{i>r} σᵢ² over
   * standard normal inputs.
   */
  @Test
  void aGemmsErrorIsTheDiscardedSingularValues() throws Exception {
    ModelProto model = export("mlp");
    Graph before = Graph.fromModel(model);
    Node gemm = before.nodes().stream().filter(n -> n.opType().equals("Gemm")).findFirst().orElseThrow();
    assertEquals(1, gemm.attrInt("transB", 0), "torch stores Linear weights as out×in");
    DMatrixRMaj w = matrix(before.initializers().get(gemm.input(1)));
    assertEquals(List.of(32, 192), List.of(w.numRows, w.numCols));
    double[] sigma = SingularOps_DDRM.singularValues(w.copy());
    Arrays.sort(sigma);
    reverse(sigma);
    int r = 8;
    double discarded = 0;
    for (int i = r; i < sigma.length; i++) {
      discarded += sigma[i] * sigma[i];
    }

    ModelProto out = pass(Map.of("rank_ratio", "0.25")).apply(model).model();
    Graph after = Graph.fromModel(out);
    Node second = after.producers().get(gemm.output(0));
    Node first = after.producers().get(second.input(0));
    assertEquals(List.of("Gemm", "Gemm"), List.of(first.opType(), second.opType()));
    assertEquals(gemm.input(2), second.input(2), "the bias moves to the second layer");
    DMatrixRMaj a = matrix(after.initializers().get(first.input(1)));
    DMatrixRMaj b = matrix(after.initializers().get(second.input(1)));
    assertEquals(List.of(r, 192, 32, r), List.of(a.numRows, a.numCols, b.numRows, b.numCols));
    DMatrixRMaj wr = new DMatrixRMaj(32, 192);
    CommonOps_DDRM.mult(b, a, wr);
    DMatrixRMaj diff = new DMatrixRMaj(32, 192);
    CommonOps_DDRM.subtract(w, wr, diff);
    assertEquals(discarded, CommonOps_DDRM.elementSum(elementSquare(diff)), 1e-5 * discarded);

    // The layer alone, cut out of both models at the Gemm's output.
    ModelProto layer = cutAt(model, gemm.output(0), 32);
    ModelProto factorized = cutAt(out, gemm.output(0), 32);
    SplittableRandom random = new SplittableRandom(4);
    double meanSquare = 0;
    int samples = 400;
    try (OrtSession s0 = ENV.createSession(layer.toByteArray());
        OrtSession s1 = ENV.createSession(factorized.toByteArray())) {
      for (int i = 0; i < samples; i++) {
        float[] x = gaussian(random, 192);
        float[] y = run(s0, x, new long[] {1, 3, 8, 8});
        float[] yr = run(s1, x, new long[] {1, 3, 8, 8});
        double err = norm(y, yr);
        assertTrue(err <= sigma[r] * norm(x, new float[x.length]) * (1 + 1e-4) + 1e-4,
            "||Δy|| " + err + " within σ_{r+1}·||x||");
        meanSquare += err * err / samples;
      }
    }
    assertEquals(discarded, meanSquare, 0.2 * discarded, "E||(W − W_r)x||² = ||W − W_r||_F² for x ~ N(0, I)");
  }

  /**
   * Gemm's transA, transB 0, alpha, beta and C, and a MatMul, on weights of exact rank 6: at
   * ranks of 6 or more the factors reproduce the weights, so the outputs must agree.
   */
  @Test
  void gemmAttributesAndMatMulSurviveTheFactorization() throws Exception {
    SplittableRandom random = new SplittableRandom(8);
    Graph g = new Graph(17);
    g.addInput("x", new TensorType(Tensors.FLOAT, new long[] {64, 4}));
    g.addInitializer(Tensors.floats("b", new long[] {64, 48}, lowRank(random, 64, 48, 6)));
    g.addInitializer(Tensors.floats("c", new long[] {48}, gaussian(random, 48)));
    g.addInitializer(Tensors.floats("w", new long[] {48, 40}, lowRank(random, 48, 40, 6)));
    g.addNode(new Node("gemm", "Gemm", "", List.of("x", "b", "c"), List.of("h"), Map.of(
        "transA", Attrs.i("transA", 1), "alpha", Attrs.f("alpha", 0.5),
        "beta", Attrs.f("beta", 2))));
    g.addNode(new Node("matmul", "MatMul", "", List.of("h", "w"), List.of("y"), Map.of()));
    g.outputs().put("y", new TensorType(Tensors.FLOAT, new long[] {4, 40}));
    ModelProto model = g.toModel();

    PassReport.Outcome outcome = PassReport.run(pass(Map.of("rank_ratio", "0.25")), model);
    Graph after = Graph.fromModel(outcome.compressed().model());
    assertEquals(List.of("Gemm", "Gemm", "MatMul", "MatMul"), after.nodes().stream().map(Node::opType).toList());
    assertEquals(64 * 48 - 12 * (64 + 48) + 48 * 40 - 10 * (48 + 40),
        outcome.report().before().parameters() - outcome.report().after().parameters());
    float[] x = gaussian(random, 64 * 4);
    float[] y = run(model, x);
    float[] yr = run(outcome.compressed().model(), x);
    assertEquals(0, norm(y, yr), 1e-5 * norm(y, new float[y.length]), "rank-6 weights are reproduced at ranks 12 and 10");
  }

  @Test
  void aWeightHoldingNaNIsRefusedNamingTheNode() {
    Graph g = new Graph(17);
    g.addInput("x", new TensorType(Tensors.FLOAT, new long[] {2, 8}));
    float[] w = gaussian(new SplittableRandom(9), 8 * 6);
    w[5] = Float.NaN;
    g.addInitializer(Tensors.floats("w", new long[] {8, 6}, w));
    g.addNode(new Node("dense", "MatMul", "", List.of("x", "w"), List.of("y"), Map.of()));
    g.outputs().put("y", new TensorType(Tensors.FLOAT, new long[] {2, 6}));
    CompressionException e = assertThrows(CompressionException.class, () -> pass(Map.of()).apply(g.toModel()));
    assertTrue(e.getMessage().contains("node dense (MatMul)") && e.getMessage().contains("NaN"), e.getMessage());
  }

  @Test
  void randomizedSvdFindsTheLeadingSingularValuesOfADecayingSpectrum() {
    int m = 900;
    int n = 500;
    int count = 300;
    SplittableRandom random = new SplittableRandom(5);
    DMatrixRMaj u = orthonormal(m, count, random);
    DMatrixRMaj v = orthonormal(n, count, random);
    double[] sigma = new double[count];
    DMatrixRMaj us = u.copy();
    for (int j = 0; j < count; j++) {
      sigma[j] = 10 * Math.pow(0.9, j) + 1e-3;
      for (int i = 0; i < m; i++) {
        us.unsafe_set(i, j, u.unsafe_get(i, j) * sigma[j]);
      }
    }
    DMatrixRMaj a = new DMatrixRMaj(m, n);
    CommonOps_DDRM.multTransB(us, v, a);

    int rank = 40;
    // Tall as built and wide as torch stores a Linear weight (out×in).
    for (DMatrixRMaj matrix : List.of(a, CommonOps_DDRM.transpose(a, null))) {
      TruncatedSvd svd = TruncatedSvd.randomized(matrix, rank, LowRankPass.OVERSAMPLING, LowRankPass.POWER_ITERATIONS, 7);
      assertEquals(rank, svd.rank());
      // Halko et al. (section 10.4): σⱼ's error shrinks as (σ_{k+p+1}/σⱼ)^(2(2q+1)); the leading
      // half sits far above the sketch's edge, the last few near it. The products run in float32
      // (as the weights are), which puts an absolute error of order 10⁻⁶·σ₁ on every σᵢ.
      for (int i = 0; i < rank; i++) {
        assertEquals(sigma[i], svd.sigma()[i], i < rank / 2 ? 1e-5 * sigma[0] : 2e-3 * sigma[i], "σ" + (i + 1));
      }
      // The same seed gives the same factors.
      assertArrayEquals(svd.sigma(),
          TruncatedSvd.randomized(matrix, rank, LowRankPass.OVERSAMPLING, LowRankPass.POWER_ITERATIONS, 7).sigma());
      // The factors multiply back to the rank-r part: ||A − L·R||_F² is close to Σ_{i>r} σᵢ².
      DMatrixRMaj lr = new DMatrixRMaj(matrix.numRows, matrix.numCols);
      CommonOps_DDRM.mult(svd.left(rank), svd.right(rank), lr);
      DMatrixRMaj diff = new DMatrixRMaj(matrix.numRows, matrix.numCols);
      CommonOps_DDRM.subtract(matrix, lr, diff);
      double tail = 0;
      for (int i = rank; i < count; i++) {
        tail += sigma[i] * sigma[i];
      }
      double residual = CommonOps_DDRM.elementSum(elementSquare(diff));
      assertEquals(tail, residual, 0.01 * tail);
      // And the energy the pass reports as discarded is the error actually made: the factors are
      // an orthogonal projection of A, up to float32 rounding.
      double total = CommonOps_DDRM.elementSum(elementSquare(matrix));
      assertEquals(total - svd.energy(rank), residual, 1e-5 * total);
    }
  }

  @Test
  void energyPicksTheSmallestRankThatKeepsTheShare() throws Exception {
    ModelProto model = export("mlp");
    Graph before = Graph.fromModel(model);
    Compressed out = pass(Map.of("energy", "0.6")).apply(model);
    Graph after = Graph.fromModel(out.model());
    int checked = 0;
    for (Node gemm : before.nodes()) {
      if (!gemm.opType().equals("Gemm")) {
        continue;
      }
      DMatrixRMaj w = matrix(before.initializers().get(gemm.input(1)));
      double[] sigma = SingularOps_DDRM.singularValues(w.copy());
      Arrays.sort(sigma);
      reverse(sigma);
      double total = Arrays.stream(sigma).map(s -> s * s).sum();
      int r = 0;
      double kept = 0;
      while (kept < 0.6 * total) {
        kept += sigma[r] * sigma[r];
        r++;
      }
      Node second = after.producers().get(gemm.output(0));
      if (r * (w.numRows + w.numCols) < w.numRows * w.numCols) {
        long[] secondDims = Tensors.dims(after.initializers().get(second.input(1)));
        assertEquals(r, secondDims[1], gemm.name() + ": the smallest r keeping 60% of Σσ²");
        checked++;
      } else {
        assertEquals(gemm.name(), second.name(), "left alone: the rank it needs would not save anything");
      }
    }
    assertTrue(checked >= 2, out.details().toString());
    assertTrue(Double.parseDouble(out.details().get("retained_energy")) >= 0.6, out.details().toString());
  }

  @Test
  void theTinyCnnsGroupedConvStaysAndItsFactorizedConvsTrain() throws Exception {
    ModelProto model = export("tiny");
    Compressed out = pass(Map.of("rank_ratio", "0.5")).apply(model);
    assertEquals("2", out.details().get("layers_factorized"), out.details().toString());
    assertTrue(out.details().get("left_alone").contains("grouped convolution (group 2)"), out.details().toString());
    Node firstConv = Graph.fromModel(model).nodes().stream().filter(n -> n.opType().equals("Conv")).findFirst()
        .orElseThrow();
    Graph after = Graph.fromModel(out.model());
    Node oneByOne = after.producers().get(firstConv.output(0));
    Node kByK = after.producers().get(oneByOne.input(0));
    assertEquals(List.of(8L, 4L, 1L, 1L), Arrays.stream(Tensors.dims(after.initializers().get(oneByOne.input(1))))
        .boxed().toList(), "1×1 Conv from rank 4 to 8 channels");
    assertEquals(List.of(4L, 3L, 3L, 3L), Arrays.stream(Tensors.dims(after.initializers().get(kByK.input(1))))
        .boxed().toList(), "rank-4 3×3 Conv");
    assertArrayEquals(firstConv.attrInts("pads"), kByK.attrInts("pads"));
    assertEquals(firstConv.input(2), oneByOne.input(2), "the bias is the 1×1 Conv's");

    assertLossFalls(out.model(), 3 * 16 * 16);
  }

  @Test
  void aFactorizedMlpTrains() throws Exception {
    assertLossFalls(pass(Map.of("rank_ratio", "0.25")).apply(export("mlp")).model(), 3 * 8 * 8);
  }

  @Test
  void rankRatioAndEnergyAreExclusiveAndInRange() {
    InvalidCompressionException both = assertThrows(InvalidCompressionException.class,
        () -> pass(Map.of("rank_ratio", "0.5", "energy", "0.9")));
    assertTrue(both.getMessage().contains("rank_ratio") && both.getMessage().contains("energy"), both.getMessage());
    assertEquals("parameters.rank_ratio",
        assertThrows(InvalidCompressionException.class, () -> pass(Map.of("rank_ratio", "0"))).field());
    assertEquals("parameters.energy",
        assertThrows(InvalidCompressionException.class, () -> pass(Map.of("energy", "1.5"))).field());
    assertEquals("parameters.rank", assertThrows(InvalidCompressionException.class,
        () -> pass(Map.of("rank", "4"))).field());
    assertEquals(Map.of("rank_ratio", "0.5"), pass(Map.of()).parameters().asMap());
    assertEquals(Map.of("energy", "0.9"), pass(Map.of("energy", "0.9")).parameters().asMap());
  }

  // ---- helpers ----

  private static void assertLossFalls(ModelProto model, int imageLength) throws Exception {
    int batch = 8;
    ForwardModel forward = ForwardModel.prepare(model, batch);
    SplittableRandom random = new SplittableRandom(6);
    float[] images = gaussian(random, batch * imageLength);
    long[] labels = random.longs(batch, 0, 10).toArray();
    try (Trainer t = new Trainer(TrainStepBuilder.build(forward, TrainConfig.sgd(batch, 0.9)), ExecutionConfig.cpu(1))) {
      float first = t.step(images, labels, 0.1f);
      float last = first;
      for (int i = 0; i < 20; i++) {
        last = t.step(images, labels, 0.1f);
      }
      assertTrue(last < 0.8 * first, "loss " + first + " -> " + last);
    }
  }

  /** The model with one output, the given value (batch 1), and only what it needs. */
  private static ModelProto cutAt(ModelProto model, String value, long width) {
    Graph g = Graph.fromModel(model);
    g.outputs().clear();
    g.outputs().put(value, new TensorType(Tensors.FLOAT, new long[] {1, width}));
    g.removeUnused();
    ModelProto.Builder b = g.toModel().toBuilder();
    return b.clearOpsetImport().addAllOpsetImport(model.getOpsetImportList()).setIrVersion(model.getIrVersion()).build();
  }

  private static float[] run(ModelProto model, float[] x) throws OrtException {
    try (OrtSession s = ENV.createSession(model.toByteArray())) {
      return run(s, x, inputShape(model));
    }
  }

  private static float[] run(OrtSession s, float[] x, long[] shape) throws OrtException {
    try (OnnxTensor in = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(x), shape);
        OrtSession.Result r = s.run(Map.of(s.getInputNames().iterator().next(), in))) {
      OnnxTensor y = (OnnxTensor) r.get(0);
      FloatBuffer b = y.getFloatBuffer();
      float[] out = new float[b.remaining()];
      b.get(out);
      return out;
    }
  }

  private static long[] inputShape(ModelProto model) {
    return Graph.fromModel(model).inputs().values().iterator().next().dims();
  }

  private static int inputSize(ModelProto model) {
    return (int) Tensors.numel(inputShape(model));
  }

  private static float[] gaussian(SplittableRandom random, int n) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) random.nextGaussian();
    }
    return x;
  }

  private static double norm(float[] a, float[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += (double) (a[i] - b[i]) * (a[i] - b[i]);
    }
    return Math.sqrt(s);
  }

  private static double[] toDoubles(float[] f) {
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) {
      d[i] = f[i];
    }
    return d;
  }

  private static DMatrixRMaj matrix(TensorProto t) {
    long[] d = Tensors.dims(t);
    return new DMatrixRMaj((int) d[0], (int) (Tensors.numel(d) / d[0]), true, Tensors.toDoubles(t));
  }

  private static DMatrixRMaj elementSquare(DMatrixRMaj a) {
    DMatrixRMaj s = new DMatrixRMaj(a.numRows, a.numCols);
    CommonOps_DDRM.elementMult(a, a, s);
    return s;
  }

  private static DMatrixRMaj orthonormal(int rows, int cols, SplittableRandom random) {
    DMatrixRMaj g = new DMatrixRMaj(rows, cols);
    for (int i = 0; i < g.data.length; i++) {
      g.data[i] = random.nextGaussian();
    }
    var qr = org.ejml.dense.row.factory.DecompositionFactory_DDRM.qr(rows, cols);
    qr.decompose(g);
    return qr.getQ(null, true);
  }

  /** A rows×cols matrix of exact rank r: the product of two Gaussian factors. */
  private static float[] lowRank(SplittableRandom random, int rows, int cols, int r) {
    float[] a = gaussian(random, rows * r);
    float[] b = gaussian(random, r * cols);
    float[] out = new float[rows * cols];
    for (int i = 0; i < rows; i++) {
      for (int k = 0; k < r; k++) {
        for (int j = 0; j < cols; j++) {
          out[i * cols + j] += a[i * r + k] * b[k * cols + j] / r;
        }
      }
    }
    return out;
  }

  private static void reverse(double[] a) {
    for (int i = 0, j = a.length - 1; i < j; i++, j--) {
      double t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }

  private static int countOccurrences(String text, String part) {
    int count = 0;
    for (int at = text.indexOf(part); at >= 0; at = text.indexOf(part, at + 1)) {
      count++;
    }
    return count;
  }
}
