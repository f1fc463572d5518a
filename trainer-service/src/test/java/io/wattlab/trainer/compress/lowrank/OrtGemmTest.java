package io.wattlab.trainer.compress.lowrank;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class OrtGemmTest {

  @Test
  void productsOnOnnxRuntimeEqualATripleLoop() {
    SplittableRandom random = new SplittableRandom(11);
    // Odd sizes, so that no dimension lines up with a kernel's block width.
    int m = 37;
    int k = 23;
    int n = 5;
    float[] a = gaussian(m * k, random);
    float[] b = gaussian(k * n, random);
    float[] c = OrtGemm.multiply(a, m, k, false, b, n);
    assertEquals(m * n, c.length);
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < n; j++) {
        double s = 0;
        for (int p = 0; p < k; p++) {
          s += (double) a[i * k + p] * b[p * n + j];
        }
        assertEquals(s, c[i * n + j], 1e-5 * (1 + Math.abs(s)), "C[" + i + "][" + j + "]");
      }
    }
    // Aᵀ·D for the same 37×23 A and a 37×3 D: 23×3.
    float[] d = gaussian(m * 3, random);
    float[] t = OrtGemm.multiply(a, m, k, true, d, 3);
    assertEquals(k * 3, t.length);
    for (int i = 0; i < k; i++) {
      for (int j = 0; j < 3; j++) {
        double s = 0;
        for (int p = 0; p < m; p++) {
          s += (double) a[p * k + i] * d[p * 3 + j];
        }
        assertEquals(s, t[i * 3 + j], 1e-5 * (1 + Math.abs(s)), "Aᵀ·D[" + i + "][" + j + "]");
      }
    }
  }

  @Test
  void mismatchedShapesAreRefusedNamingThem() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> OrtGemm.multiply(new float[6], 2, 3, false, new float[8], 2));
    assertTrue(e.getMessage().contains("2×3") && e.getMessage().contains("4×2"), e.getMessage());
  }

  @Test
  void choleskyQrOrthonormalisesAnIllConditionedSketchAndKeepsItsRange() {
    SplittableRandom random = new SplittableRandom(12);
    int rows = 400;
    int cols = 30;
    float[] y = gaussian(rows * cols, random);
    // Column scales from 1 down to 10⁻⁴: cond(Y)² ≈ 10⁸ is beyond float32, so an unshifted
    // single-pass Cholesky QR would fail or lose orthogonality.
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        y[r * cols + c] *= (float) Math.pow(1e-4, c / (double) (cols - 1));
      }
    }
    float[] q = TruncatedSvd.orthonormalColumns(y, rows, cols, 2);
    double worst = 0;
    for (int i = 0; i < cols; i++) {
      for (int j = 0; j < cols; j++) {
        double s = 0;
        for (int r = 0; r < rows; r++) {
          s += (double) q[r * cols + i] * q[r * cols + j];
        }
        worst = Math.max(worst, Math.abs(s - (i == j ? 1 : 0)));
      }
    }
    assertTrue(worst < 2e-5, "QᵀQ is off the identity by " + worst);
    // Each column of Y lies in span(Q): ‖y − Q·Qᵀy‖ ≤ 10⁻⁴·‖y‖ for the widest-scaled column too.
    for (int c = 0; c < cols; c++) {
      double[] coefficients = new double[cols];
      double norm = 0;
      for (int r = 0; r < rows; r++) {
        norm += (double) y[r * cols + c] * y[r * cols + c];
        for (int i = 0; i < cols; i++) {
          coefficients[i] += (double) q[r * cols + i] * y[r * cols + c];
        }
      }
      double residual = 0;
      for (int r = 0; r < rows; r++) {
        double e = y[r * cols + c];
        for (int i = 0; i < cols; i++) {
          e -= q[r * cols + i] * coefficients[i];
        }
        residual += e * e;
      }
      assertTrue(Math.sqrt(residual) <= 1e-4 * Math.sqrt(norm), "column " + c + " leaves span(Q) by "
          + Math.sqrt(residual / norm));
    }
  }

  private static float[] gaussian(int length, SplittableRandom random) {
    float[] f = new float[length];
    for (int i = 0; i < length; i++) {
      f[i] = (float) random.nextGaussian();
    }
    return f;
  }
}
