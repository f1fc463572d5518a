package io.wattlab.trainer.compress.lowrank;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.NormOps_DDRM;
import org.ejml.dense.row.SingularOps_DDRM;
import org.ejml.dense.row.decomposition.TriangularSolver_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_MT_DDRM;
import org.ejml.interfaces.decomposition.CholeskyDecomposition_F64;
import org.ejml.interfaces.decomposition.EigenDecomposition_F64;
import org.ejml.interfaces.decomposition.SingularValueDecomposition_F64;

/**
 * The leading singular triplets of a matrix, exactly (EJML's SVD) or by the randomized range
 * finder of Halko, Martinsson &amp; Tropp (2011, algorithms 4.4 and 5.1): a Gaussian sketch with
 * oversampling, power iterations re-orthonormalised between products, then the SVD of the small
 * projected matrix. The randomized path's large products run in float32 on ONNX Runtime's GEMM
 * ({@link OrtGemm}) and its QRs are Cholesky QRs made of such products; only w×w problems are
 * left to EJML. Seeded, so a pass gives the same factors every time.
 *
 * @param u m×k left singular vectors, columns in order of falling singular value
 * @param sigma the k singular values, falling
 * @param v n×k right singular vectors
 */
record TruncatedSvd(DMatrixRMaj u, double[] sigma, DMatrixRMaj v) {

  /** The thin SVD of {@code a}, all min(m, n) triplets. */
  static TruncatedSvd exact(DMatrixRMaj a) {
    return of(a, Math.min(a.numRows, a.numCols));
  }

  /**
   * The leading {@code rank} triplets from a sketch of {@code rank + oversampling} columns, with
   * {@code powerIterations} rounds of A·Aᵀ applied to sharpen a slowly decaying spectrum (the
   * error bound of Halko et al., section 10.4, shrinks as σ_{k+1} times a factor raised to
   * 1/(2q+1)). The sketch never exceeds min(m, n) columns; at that width it spans the whole range
   * and the result is the exact SVD's up to rounding.
   */
  static TruncatedSvd randomized(DMatrixRMaj a, int rank, int oversampling, int powerIterations, long seed) {
    if (a.numRows < a.numCols) {
      // Sketch the longer side: the small problem is then (rank+p)-square and the long singular
      // vectors come from one product. LowRankPass already hands wide weights over transposed.
      return randomized(CommonOps_DDRM.transpose(a, null), rank, oversampling, powerIterations, seed).transposed();
    }
    int m = a.numRows;
    int n = a.numCols;
    int width = Math.min(rank + oversampling, Math.min(m, n));
    float[] omega = new float[n * width];
    SplittableRandom random = new SplittableRandom(seed);
    for (int i = 0; i < omega.length; i++) {
      omega[i] = (float) random.nextGaussian();
    }
    // Every product with A, and every m×width one, runs in float32 on ONNX Runtime's GEMM: they
    // are all the time there is (m·n·width multiply-adds each). A is float32 in the model anyway.
    try (OrtGemm.Operand w = OrtGemm.Operand.of(a)) {
      float[] y = times(w, false, omega, n, width);
      for (int i = 0; i < powerIterations; i++) {
        // Orthonormalising between the products keeps the small singular directions from
        // drowning in rounding (Halko et al., algorithm 4.4). Only the short n×width side is
        // orthonormalised here, at n/m of the cost of the tall one: Aᵀ·Y squares the spectrum's
        // spread once, which float32 resolves down to about √u·σ₁ ≈ 2.4·10⁻⁴·σ₁, far below the
        // singular values a rank ratio or an energy share keeps in trained weights.
        float[] z = times(w, true, y, m, width);
        z = orthonormalColumns(z, n, width, 2);
        y = times(w, false, z, n, width);
      }
      float[] q = orthonormalColumns(y, m, width, 2);
      // Bᵀ = Aᵀ·Q (n×width); B = Qᵀ·A is the projection whose SVD gives A's leading triplets.
      float[] bt = times(w, true, q, m, width);
      return projected(q, m, bt, n, width, Math.min(rank, width));
    }
  }

  /**
   * The triplets of A ≈ Q·B from B·Bᵀ = X·Λ·Xᵀ (width-square, in double, where squaring costs
   * no accuracy that matters: the eigenvalues σᵢ² are exact to 10⁻¹⁶·σ₁², and the float32 B
   * already limits σᵢ to about 10⁻⁶·σ₁): σᵢ = √λᵢ, U = Q·X, V = Bᵀ·X·Σ⁻¹. The product U·Σ·Vᵀ
   * = Q·X_k·X_kᵀ·B needs no division, so a tiny σᵢ costs the factors nothing.
   */
  private static TruncatedSvd projected(float[] q, int m, float[] bt, int n, int width, int keep) {
    DMatrixRMaj gram = gramOfColumns(bt, n, width);
    EigenDecomposition_F64<DMatrixRMaj> eig = DecompositionFactory_MT_DDRM.eig(width, true, true);
    if (!eig.decompose(gram)) {
      throw new ArithmeticException("the eigendecomposition of a " + width + "×" + width + " Gram matrix did not converge");
    }
    Integer[] order = new Integer[width];
    for (int i = 0; i < width; i++) {
      order[i] = i;
    }
    // Ties broken by index, so the order never depends on the sort's whims.
    Arrays.sort(order, (i, j) -> {
      int c = Double.compare(eig.getEigenvalue(j).real, eig.getEigenvalue(i).real);
      return c != 0 ? c : Integer.compare(i, j);
    });
    double[] sigma = new double[keep];
    float[] x = new float[width * keep];
    float[] xOverSigma = new float[width * keep];
    for (int j = 0; j < keep; j++) {
      sigma[j] = Math.sqrt(Math.max(0, eig.getEigenvalue(order[j]).real));
      DMatrixRMaj vector = eig.getEigenVector(order[j]);
      // Below u·σ₁ a direction is float32 rounding noise: its V column is left zero rather than
      // blown up by 1/σ (the energy it drops is under u²·σ₁²).
      double inverse = sigma[j] > FLOAT_UNIT_ROUNDOFF * sigma[0] ? 1 / sigma[j] : 0;
      for (int i = 0; i < width; i++) {
        x[i * keep + j] = (float) vector.data[i];
        xOverSigma[i * keep + j] = (float) (vector.data[i] * inverse);
      }
    }
    float[] u = OrtGemm.multiply(q, m, width, false, x, keep);
    float[] v = OrtGemm.multiply(bt, n, width, false, xOverSigma, keep);
    return new TruncatedSvd(doubles(u, m, keep), sigma, doubles(v, n, keep));
  }

  /** Xᵀ·X of a rows×cols float matrix, accumulated in double, rows of the result in parallel. */
  private static DMatrixRMaj gramOfColumns(float[] x, int rows, int cols) {
    double[] columns = new double[rows * cols];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        columns[c * rows + r] = x[r * cols + c];
      }
    }
    DMatrixRMaj gram = new DMatrixRMaj(cols, cols);
    IntStream.range(0, cols).parallel().forEach(i -> {
      for (int j = i; j < cols; j++) {
        double s0 = 0;
        double s1 = 0;
        double s2 = 0;
        double s3 = 0;
        int a = i * rows;
        int b = j * rows;
        int k = 0;
        for (; k + 3 < rows; k += 4) {
          s0 += columns[a + k] * columns[b + k];
          s1 += columns[a + k + 1] * columns[b + k + 1];
          s2 += columns[a + k + 2] * columns[b + k + 2];
          s3 += columns[a + k + 3] * columns[b + k + 3];
        }
        for (; k < rows; k++) {
          s0 += columns[a + k] * columns[b + k];
        }
        double s = (s0 + s1) + (s2 + s3);
        gram.unsafe_set(i, j, s);
        gram.unsafe_set(j, i, s);
      }
    });
    return gram;
  }

  /** op(A)·X for the held A and a float matrix X of {@code rows}×{@code cols}. */
  private static float[] times(OrtGemm.Operand a, boolean transposeA, float[] x, int rows, int cols) {
    try (OrtGemm.Operand right = new OrtGemm.Operand(x, rows, cols)) {
      return OrtGemm.multiply(a, transposeA, right);
    }
  }

  /**
   * An orthonormal basis of the columns of the rows×cols matrix y by Cholesky QR: R from the
   * Cholesky factor of YᵀY, Q = Y·R⁻¹, so that the work is two GEMMs. One pass leaves Q's
   * orthogonality off by about u·√rows·cond(Y)²; a second, on a Q whose condition is near 1,
   * brings it to rounding level ("CholeskyQR2", Yamamoto et al. 2015). A shift s of YᵀY by about
   * √rows·u·max‖yⱼ‖² (Fukaya et al. 2020) keeps the factorization defined when float32 rounding
   * makes YᵀY numerically singular; it only shrinks the weakest directions, and since a pass
   * leaves QᵀQ about s·‖R⁻¹‖² off the identity, a third pass follows where that is not small
   * ("shifted CholeskyQR3").
   *
   * @param passes the passes to make at least
   */
  static float[] orthonormalColumns(float[] y, int rows, int cols, int passes) {
    float[] q = y;
    double goal = 4 * Math.sqrt(rows) * FLOAT_UNIT_ROUNDOFF;
    for (int pass = 0; pass < MAX_QR_PASSES; pass++) {
      DMatrixRMaj gram = doubles(OrtGemm.multiply(q, rows, cols, true, q, cols), cols, cols);
      Factor f = upperCholeskyInverse(gram, rows);
      q = OrtGemm.multiply(q, rows, cols, false, floats(f.rInverse), cols);
      if (pass + 1 >= passes && f.shift * spectralNormSquared(f.rInverse) <= goal) {
        break;
      }
    }
    return q;
  }

  private static final int MAX_QR_PASSES = 4;

  private record Factor(DMatrixRMaj rInverse, double shift) {}

  /**
   * ‖M‖₂², estimated by 30 power iterations on MᵀM from a fixed start (O(n²) each): the Frobenius
   * norm would overstate it by up to n times and call for passes that are not needed.
   */
  private static double spectralNormSquared(DMatrixRMaj m) {
    DMatrixRMaj x = new DMatrixRMaj(m.numCols, 1);
    CommonOps_DDRM.fill(x, 1 / Math.sqrt(m.numCols));
    DMatrixRMaj mx = new DMatrixRMaj(m.numRows, 1);
    double estimate = 0;
    for (int i = 0; i < 30; i++) {
      CommonOps_DDRM.mult(m, x, mx);
      CommonOps_DDRM.multTransA(m, mx, x);
      estimate = NormOps_DDRM.normF(x);
      if (estimate == 0) {
        return 0;
      }
      CommonOps_DDRM.divide(x, estimate);
    }
    return estimate;
  }

  /** R⁻¹ for RᵀR = G + s·I, R upper triangular, with the smallest shift s (×10 steps) that works. */
  private static Factor upperCholeskyInverse(DMatrixRMaj gram, int rows) {
    int n = gram.numRows;
    double largest = 0;
    for (int i = 0; i < n; i++) {
      largest = Math.max(largest, gram.unsafe_get(i, i));
    }
    if (largest == 0) {
      return new Factor(CommonOps_DDRM.identity(n), 0);
    }
    double shift = Math.sqrt(rows) * FLOAT_UNIT_ROUNDOFF * largest;
    for (int attempt = 0; attempt < 12; attempt++, shift *= 10) {
      DMatrixRMaj shifted = gram.copy();
      for (int i = 0; i < n; i++) {
        shifted.unsafe_set(i, i, shifted.unsafe_get(i, i) + shift);
      }
      CholeskyDecomposition_F64<DMatrixRMaj> chol = DecompositionFactory_DDRM.chol(n, true);
      if (chol.decompose(shifted)) {
        DMatrixRMaj lower = chol.getT(null);
        TriangularSolver_DDRM.invertLower(lower.data, n);
        return new Factor(CommonOps_DDRM.transpose(lower, null), shift);
      }
    }
    throw new ArithmeticException("the Cholesky factorization of a " + n + "×" + n + " Gram matrix failed at every shift");
  }

  private static final double FLOAT_UNIT_ROUNDOFF = 0x1p-24;

  private static DMatrixRMaj doubles(float[] f, int rows, int cols) {
    DMatrixRMaj d = new DMatrixRMaj(rows, cols);
    for (int i = 0; i < f.length; i++) {
      d.data[i] = f[i];
    }
    return d;
  }

  private static float[] floats(DMatrixRMaj d) {
    float[] f = new float[d.data.length];
    for (int i = 0; i < f.length; i++) {
      f[i] = (float) d.data[i];
    }
    return f;
  }

  /** The SVD of the transpose: Aᵀ = V·S·Uᵀ. */
  TruncatedSvd transposed() {
    return new TruncatedSvd(v, sigma, u);
  }

  /** How many triplets this holds. */
  int rank() {
    return sigma.length;
  }

  /** Σσᵢ² of the first r triplets: the squared Frobenius norm of the rank-r approximation. */
  double energy(int r) {
    double e = 0;
    for (int i = 0; i < r; i++) {
      e += sigma[i] * sigma[i];
    }
    return e;
  }

  /** U_r·√S_r, m×r: the second factor of the product (applied last). */
  DMatrixRMaj left(int r) {
    DMatrixRMaj out = new DMatrixRMaj(u.numRows, r);
    for (int i = 0; i < u.numRows; i++) {
      for (int j = 0; j < r; j++) {
        out.unsafe_set(i, j, u.unsafe_get(i, j) * Math.sqrt(sigma[j]));
      }
    }
    return out;
  }

  /** √S_r·V_rᵀ, r×n: the first factor (applied to the input first). */
  DMatrixRMaj right(int r) {
    DMatrixRMaj out = new DMatrixRMaj(r, v.numRows);
    for (int i = 0; i < r; i++) {
      double s = Math.sqrt(sigma[i]);
      for (int j = 0; j < v.numRows; j++) {
        out.unsafe_set(i, j, s * v.unsafe_get(j, i));
      }
    }
    return out;
  }

  /** The squared Frobenius norm Σ aᵢⱼ², the total spectral energy Σσᵢ². */
  static double frobeniusSquared(DMatrixRMaj a) {
    double s = 0;
    for (double x : a.data) {
      s += x * x;
    }
    return s;
  }

  private static TruncatedSvd of(DMatrixRMaj a, int keep) {
    SingularValueDecomposition_F64<DMatrixRMaj> svd =
        DecompositionFactory_MT_DDRM.svd(a.numRows, a.numCols, true, true, true);
    if (!svd.decompose(svd.inputModified() ? a.copy() : a)) {
      throw new ArithmeticException("the SVD of a " + a.numRows + "×" + a.numCols + " matrix did not converge");
    }
    DMatrixRMaj u = svd.getU(null, false);
    DMatrixRMaj w = svd.getW(null);
    DMatrixRMaj v = svd.getV(null, false);
    SingularOps_DDRM.descendingOrder(u, false, w, v, false);
    double[] sigma = new double[keep];
    for (int i = 0; i < keep; i++) {
      sigma[i] = w.get(i, i);
    }
    DMatrixRMaj uk = CommonOps_DDRM.extract(u, 0, u.numRows, 0, keep);
    DMatrixRMaj vk = CommonOps_DDRM.extract(v, 0, v.numRows, 0, keep);
    return new TruncatedSvd(uk, sigma, vk);
  }
}
