package io.wattlab.trainer.compress.quantize;

import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import io.wattlab.trainer.compress.ActivationRanges;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The arithmetic of int8 quantization, as in Jacob et al. (2018) and Krishnamoorthi (2018):
 * weights symmetric (zero point 0) per output channel or per tensor, activations affine over
 * their calibrated range widened to contain 0, biases int32 at the scale input × weight; and the
 * TensorProtos that hold the results.
 */
final class Quantization {

  /** The symmetric int8 range: −127..127, so that the scale maps ±max exactly and −128 is unused. */
  static final int WEIGHT_MAX = 127;
  /**
   * The 7-bit range of {@code reduce_range}: on x86 CPUs without VNNI, ONNX Runtime multiplies
   * uint8 by int8 with VPMADDUBSW, whose int16 pair sums saturate when both operands are near
   * their extremes (ONNX Runtime's quantization docs); ±63 cannot saturate.
   */
  static final int REDUCED_WEIGHT_MAX = 63;

  private Quantization() {}

  /** An integer element type's range. */
  enum ActivationType {
    UINT8(TensorProto.DataType.UINT8_VALUE, 0, 255);

    final int onnxType;
    final int min;
    final int max;

    ActivationType(int onnxType, int min, int max) {
      this.onnxType = onnxType;
      this.min = min;
      this.max = max;
    }
  }

  /** Scale and zero point of one affine-quantized tensor. */
  record Affine(float scale, int zeroPoint) {}

  /** A weight quantized symmetrically: int8 values and one scale per channel (one in all when per tensor). */
  record Weight(byte[] values, float[] scales) {}

  /**
   * Scale and zero point mapping {@code range}, widened to contain 0 so that zero (padding, ReLU's
   * floor) is exact, onto the type's integers. A range of only zero gets scale 1.
   */
  static Affine affine(ActivationRanges.Range range, ActivationType type) {
    double lo = Math.min(range.min(), 0);
    double hi = Math.max(range.max(), 0);
    double scale = (hi - lo) / (type.max - type.min);
    if (!(scale > 0) || !Double.isFinite(scale)) {
      return new Affine(1f, type.min);
    }
    float s = (float) scale;
    long zp = Math.round(type.min - lo / s);
    return new Affine(s, (int) Math.max(type.min, Math.min(type.max, zp)));
  }

  /**
   * Quantizes a weight tensor symmetrically along {@code axis} (each index of that axis its own
   * scale, max|w| / qmax), or as one tensor when {@code axis} is negative.
   */
  static Weight symmetric(float[] w, long[] dims, int axis, int qmax) {
    int channels = axis < 0 ? 1 : (int) dims[axis];
    long inner = 1;
    for (int i = axis + 1; axis >= 0 && i < dims.length; i++) {
      inner *= dims[i];
    }
    float[] maxAbs = new float[channels];
    for (int i = 0; i < w.length; i++) {
      int c = channel(i, inner, channels);
      maxAbs[c] = Math.max(maxAbs[c], Math.abs(w[i]));
    }
    float[] scales = new float[channels];
    for (int c = 0; c < channels; c++) {
      // An all-zero channel (pruned) keeps zeros under any scale; 1 avoids a zero scale.
      scales[c] = maxAbs[c] > 0 ? maxAbs[c] / qmax : 1f;
    }
    byte[] q = new byte[w.length];
    for (int i = 0; i < w.length; i++) {
      long v = Math.round(w[i] / scales[channel(i, inner, channels)]);
      q[i] = (byte) Math.max(-qmax, Math.min(qmax, v));
    }
    return new Weight(q, scales);
  }

  private static int channel(int flat, long inner, int channels) {
    return channels == 1 ? 0 : (int) ((flat / inner) % channels);
  }

  /** A bias as int32 at scale {@code inputScale · weightScale[c]} for each output channel c, zero point 0. */
  static int[] bias(float[] b, float inputScale, float[] weightScales) {
    int[] q = new int[b.length];
    for (int c = 0; c < b.length; c++) {
      double scale = (double) inputScale * weightScales[weightScales.length == 1 ? 0 : c];
      long v = Math.round(b[c] / scale);
      q[c] = (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, v));
    }
    return q;
  }

  static float[] biasScales(float inputScale, float[] weightScales) {
    float[] s = new float[weightScales.length];
    for (int c = 0; c < s.length; c++) {
      s[c] = inputScale * weightScales[c];
    }
    return s;
  }

  // ---- tensors ----

  static TensorProto int8(String name, long[] dims, byte[] values) {
    return raw(name, TensorProto.DataType.INT8_VALUE, dims, values);
  }

  /** A zero point (or any small integers) of an 8-bit type. */
  static TensorProto eightBit(String name, int onnxType, long[] dims, int... values) {
    byte[] bytes = new byte[values.length];
    for (int i = 0; i < bytes.length; i++) {
      bytes[i] = (byte) values[i];
    }
    return raw(name, onnxType, dims, bytes);
  }

  static TensorProto int32(String name, long[] dims, int[] values) {
    ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    buf.asIntBuffer().put(values);
    return raw(name, TensorProto.DataType.INT32_VALUE, dims, buf.array());
  }

  static TensorProto floats(String name, long[] dims, float[] values) {
    ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    buf.asFloatBuffer().put(values);
    return raw(name, TensorProto.DataType.FLOAT_VALUE, dims, buf.array());
  }

  /** The dims of a per-channel (length n, 1-D) or per-tensor (scalar) scale or zero point. */
  static long[] paramDims(int n, boolean perChannel) {
    return perChannel ? new long[] {n} : new long[0];
  }

  private static TensorProto raw(String name, int type, long[] dims, byte[] bytes) {
    TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(type);
    for (long d : dims) {
      b.addDims(d);
    }
    return b.setRawData(ByteString.copyFrom(bytes)).build();
  }
}
