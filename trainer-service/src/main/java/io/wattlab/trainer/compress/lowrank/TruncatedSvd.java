package io.wattlab.trainer.compress.lowrank;

import java.util.SplittableRandom;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.CommonOps_MT_DDRM;
import org.ejml.dense.row.SingularOps_DDRM;
import org.ejml.dense.row.decomposition.qr.QRDecompositionHouseholderColumn_MT_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_MT_DDRM;
import org.ejml.interfaces.decomposition.SingularValueDecomposition_F64;

/**
 * The leading singular triplets of a matrix, exactly (EJML's SVD) or by the randomized range
 * finder of Halko, Martinsson &amp; Tropp (2011, algorithms 4.4 and 5.1): a Gaussian sketch with
 * oversampling, power iterations re-orthonormalised by QR after every product, then the SVD of
 * the small projected matrix. Seeded, so a pass gives the same factors every time.
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
      // Sketch the longer side: the small SVD is then of a (rank+p)×shorter matrix. For torch's
      // out×in VGG16 classifier (4096×25088) the other way round would bidiagonalise a
      // (rank+p)×25088 matrix and rotate 25088-long singular vectors.
      return randomized(CommonOps_DDRM.transpose(a, null), rank, oversampling, powerIterations, seed).transposed();
    }
    int m = a.numRows;
    int n = a.numCols;
    int width = Math.min(rank + oversampling, Math.min(m, n));
    DMatrixRMaj omega = new DMatrixRMaj(n, width);
    SplittableRandom random = new SplittableRandom(seed);
    for (int i = 0; i < omega.data.length; i++) {
      omega.data[i] = random.nextGaussian();
    }
    DMatrixRMaj y = new DMatrixRMaj(m, width);
    CommonOps_MT_DDRM.mult(a, omega, y);
    DMatrixRMaj q = orthonormalColumns(y);
    DMatrixRMaj z = new DMatrixRMaj(n, width);
    for (int i = 0; i < powerIterations; i++) {
      // Orthonormalising between the two products keeps the small singular directions from
      // drowning in rounding (Halko et al., algorithm 4.4).
      CommonOps_MT_DDRM.multTransA(a, q, z);
      DMatrixRMaj w = orthonormalColumns(z);
      CommonOps_MT_DDRM.mult(a, w, y);
      q = orthonormalColumns(y);
    }
    DMatrixRMaj b = new DMatrixRMaj(width, n);
    CommonOps_MT_DDRM.multTransA(q, a, b);
    TruncatedSvd small = of(b, Math.min(rank, width));
    DMatrixRMaj u = new DMatrixRMaj(m, small.rank());
    CommonOps_MT_DDRM.mult(q, small.u, u);
    return new TruncatedSvd(u, small.sigma, small.v);
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

  /** An orthonormal basis of the columns of y (the thin Q of its Householder QR). */
  private static DMatrixRMaj orthonormalColumns(DMatrixRMaj y) {
    QRDecompositionHouseholderColumn_MT_DDRM qr = new QRDecompositionHouseholderColumn_MT_DDRM();
    if (!qr.decompose(y)) {
      throw new ArithmeticException("QR of a " + y.numRows + "×" + y.numCols + " sketch failed");
    }
    return qr.getQ(null, true);
  }
}
