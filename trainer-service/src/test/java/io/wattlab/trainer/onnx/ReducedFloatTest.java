package io.wattlab.trainer.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Bit patterns checked against numpy's float16 and torch's bfloat16 conversions (both round to nearest even). */
class ReducedFloatTest {

  private static void fp16(float value, int bits) {
    assertEquals(bits, ReducedFloat.FP16.toBits(value) & 0xFFFF,
        () -> value + " -> 0x" + Integer.toHexString(ReducedFloat.FP16.toBits(value) & 0xFFFF));
  }

  private static void bf16(int floatBits, int bits) {
    float value = Float.intBitsToFloat(floatBits);
    assertEquals(bits, ReducedFloat.BF16.toBits(value) & 0xFFFF,
        () -> value + " -> 0x" + Integer.toHexString(ReducedFloat.BF16.toBits(value) & 0xFFFF));
  }

  @Test
  void float16RoundsToNearestEvenLikeNumpy() {
    fp16(1f, 0x3C00);
    fp16(-2f, 0xC000);
    fp16(0.1f, 0x2E66);
    fp16(1f / 3, 0x3555);
    fp16((float) Math.PI, 0x4248);
    fp16(65504f, 0x7BFF);
    fp16(65519f, 0x7BFF);
    fp16(1 + 0x1p-11f, 0x3C00); // halfway between 1 and 1 + 2^-10: to the even one
    fp16(1 + 3 * 0x1p-11f, 0x3C02);
    fp16(2049f, 0x6800);
    fp16(2051f, 0x6802);
    // Subnormals: multiples of 2^-24, the same ties-to-even rule.
    fp16(0x1p-14f, 0x0400);
    fp16(1023 * 0x1p-24f, 0x03FF);
    fp16(0x1p-24f, 0x0001);
    fp16(0x1p-25f, 0x0000);
    fp16(1.5f * 0x1p-25f, 0x0001);
    fp16(-1e-5f, 0x80A8);
    fp16(1e-8f, 0x0000);
    assertTrue(Float.isNaN(ReducedFloat.FP16.round(Float.NaN)));
  }

  @Test
  void float16SaturatesWhereNumpyOverflowsToInfinity() {
    fp16(65520f, 0x7BFF); // numpy: 0x7C00 (inf)
    fp16(1e6f, 0x7BFF);
    fp16(-1e6f, 0xFBFF);
    fp16(Float.POSITIVE_INFINITY, 0x7BFF);
    assertEquals(65504f, ReducedFloat.FP16.round(1e9f));
  }

  @Test
  void bfloat16RoundsToNearestEvenLikeTorch() {
    bf16(0x3F800000, 0x3F80);
    bf16(0xBF800000, 0xBF80);
    bf16(0x40490FDB, 0x4049); // pi
    bf16(0x3DCCCCCD, 0x3DCD); // 0.1f rounds up
    bf16(0x3F808000, 0x3F80); // tie, to even
    bf16(0x3F818000, 0x3F82); // tie, to even
    bf16(0x3F80FFFF, 0x3F81);
    bf16(0x00000001, 0x0000);
    bf16(0x7F7FFFFF, 0x7F7F); // torch: 0x7F80 (inf); saturated here
    assertTrue(Float.isNaN(ReducedFloat.BF16.round(Float.NaN)));
  }

  @Test
  void roundedValuesAreFixedPointsAndDecodeExactly() {
    java.util.Random random = new java.util.Random(3);
    for (ReducedFloat f : ReducedFloat.values()) {
      for (int i = 0; i < 100_000; i++) {
        float v = (float) (random.nextGaussian() * Math.pow(10, random.nextInt(9) - 6));
        float r = f.round(v);
        assertEquals(r, f.round(r), f + " " + v);
        // Nearest: no value of the format lies closer (checked against the neighbours of r).
        short b = f.toBits(v);
        float up = f.fromBits((short) (b + 1));
        float down = f.fromBits((short) (b - 1));
        // Past zero or the largest value a neighbour pattern is NaN or of the other sign: no closer value there.
        assertTrue((Float.isNaN(up) || Math.abs(v - r) <= Math.abs(v - up))
            && (Float.isNaN(down) || Math.abs(v - r) <= Math.abs(v - down)),
            f + " " + v + " -> " + r + " between " + down + " and " + up);
      }
    }
    assertEquals(Float.floatToRawIntBits(0.0999755859375f), Float.floatToRawIntBits(ReducedFloat.FP16.round(0.1f)));
    assertEquals(0.10009765625f, ReducedFloat.BF16.round(0.1f));
  }
}
