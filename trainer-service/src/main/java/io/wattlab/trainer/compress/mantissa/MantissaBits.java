package io.wattlab.trainer.compress.mantissa;

/**
 * Bit operations on the 23 explicit mantissa bits of IEEE 754 binary32 values. Sign and exponent
 * are never touched, so a weight keeps its sign and binade: clearing bits moves it towards zero by
 * less than one unit of the kept precision, overwriting them moves it by less than that either way.
 */
public final class MantissaBits {

  /** Explicit mantissa bits of a float32. */
  public static final int MANTISSA_BITS = 23;

  private MantissaBits() {}

  /** The low {@code bits} bits set; {@code bits} in [0, 23]. */
  public static int lowMask(int bits) {
    if (bits < 0 || bits > MANTISSA_BITS) {
      throw new IllegalArgumentException("mantissa bits must be in [0, 23], got " + bits);
    }
    return (1 << bits) - 1;
  }

  /** {@code value} with its low {@code bits} mantissa bits zero (truncation towards zero). */
  public static float clearLow(float value, int bits) {
    return Float.intBitsToFloat(Float.floatToRawIntBits(value) & ~lowMask(bits));
  }

  /** {@code value} with its low {@code bits} mantissa bits replaced by the low bits of {@code word}. */
  public static float overwriteLow(float value, int bits, int word) {
    int mask = lowMask(bits);
    return Float.intBitsToFloat((Float.floatToRawIntBits(value) & ~mask) | (word & mask));
  }

  /** Whether the low {@code bits} mantissa bits of {@code value} are all zero. */
  public static boolean lowBitsClear(float value, int bits) {
    return (Float.floatToRawIntBits(value) & lowMask(bits)) == 0;
  }
}
