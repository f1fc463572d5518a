package io.wattlab.trainer.onnx;

/**
 * The 16-bit floating-point formats weights can be reduced to, with round-to-nearest-even
 * conversion from float32. Both saturate at their largest finite value instead of overflowing to
 * infinity, since an infinite weight would only break the model; NaN stays NaN.
 */
public enum ReducedFloat {

  /** IEEE 754 binary16: 5 exponent bits, 10 mantissa bits, largest finite 65504, subnormals down to 2^-24. */
  FP16("fp16") {
    @Override
    public short toBits(float value) {
      int f = Float.floatToRawIntBits(value);
      int sign = (f >>> 16) & 0x8000;
      int abs = f & 0x7FFFFFFF;
      if (abs > 0x7F800000) {
        return (short) (sign | 0x7E00);
      }
      if (abs >= 0x477FE000) {
        return (short) (sign | 0x7BFF); // 65504 and beyond, infinity included: saturate
      }
      if (abs < 0x38800000) {
        // Below 2^-14: a subnormal, a multiple of 2^-24; scaling by 2^24 is exact, rint ties to even.
        int k = (int) Math.rint(Float.intBitsToFloat(abs) * 0x1p24);
        return (short) (sign | k); // k = 1024 is the smallest normal, 0x0400
      }
      int exponent = (abs >>> 23) - 127 + 15;
      int mantissa = abs & 0x7FFFFF;
      int bits = (exponent << 10) | (mantissa >>> 13);
      int rest = mantissa & 0x1FFF;
      if (rest > 0x1000 || (rest == 0x1000 && (bits & 1) == 1)) {
        bits++; // a carry into the exponent is the correct next binade
      }
      return (short) (sign | bits);
    }

    @Override
    public float fromBits(short bits) {
      int h = bits & 0xFFFF;
      int sign = (h & 0x8000) << 16;
      int exponent = (h >>> 10) & 0x1F;
      int mantissa = h & 0x3FF;
      if (exponent == 0) {
        float v = mantissa * 0x1p-24f;
        return sign == 0 ? v : -v;
      }
      if (exponent == 0x1F) {
        return Float.intBitsToFloat(sign | 0x7F800000 | (mantissa << 13));
      }
      return Float.intBitsToFloat(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
    }
  },

  /** bfloat16: float32's 8 exponent bits and the top 7 of its mantissa bits. */
  BF16("bf16") {
    @Override
    public short toBits(float value) {
      int f = Float.floatToRawIntBits(value);
      if ((f & 0x7FFFFFFF) > 0x7F800000) {
        return (short) ((f >>> 16) | 0x0040);
      }
      if ((f & 0x7FFFFFFF) >= 0x7F7F8000) {
        return (short) (((f >>> 16) & 0x8000) | 0x7F7F); // would round to infinity: saturate
      }
      int rounded = f + 0x7FFF + ((f >>> 16) & 1);
      return (short) (rounded >>> 16);
    }

    @Override
    public float fromBits(short bits) {
      return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }
  };

  private final String word;

  ReducedFloat(String word) {
    this.word = word;
  }

  /** The format's name as {@code parameters.format} spells it. */
  public String word() {
    return word;
  }

  /** The 16-bit pattern nearest to {@code value} (ties to even), saturating at the largest finite value. */
  public abstract short toBits(float value);

  /** The float32 a 16-bit pattern stands for (exactly). */
  public abstract float fromBits(short bits);

  /** {@code value} rounded to the nearest value of this format, as a float32. */
  public float round(float value) {
    return fromBits(toBits(value));
  }

  public static ReducedFloat of(String word) {
    for (ReducedFloat f : values()) {
      if (f.word.equals(word)) {
        return f;
      }
    }
    throw new IllegalArgumentException("unknown format " + word);
  }
}
