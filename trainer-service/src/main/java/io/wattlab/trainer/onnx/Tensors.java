package io.wattlab.trainer.onnx;

import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Converts ONNX TensorProto values to and from Java arrays (float, double, int64, int32, bool). */
public final class Tensors {

  public static final int FLOAT = TensorProto.DataType.FLOAT_VALUE;
  public static final int DOUBLE = TensorProto.DataType.DOUBLE_VALUE;
  public static final int INT64 = TensorProto.DataType.INT64_VALUE;
  public static final int INT32 = TensorProto.DataType.INT32_VALUE;
  public static final int BOOL = TensorProto.DataType.BOOL_VALUE;
  public static final int FLOAT16 = TensorProto.DataType.FLOAT16_VALUE;
  public static final int BFLOAT16 = TensorProto.DataType.BFLOAT16_VALUE;

  private Tensors() {}

  public static long numel(long[] dims) {
    long n = 1;
    for (long d : dims) {
      n *= d;
    }
    return n;
  }

  public static long[] dims(TensorProto t) {
    return t.getDimsList().stream().mapToLong(Long::longValue).toArray();
  }

  public static boolean isFloating(int elemType) {
    return elemType == FLOAT || elemType == DOUBLE || elemType == TensorProto.DataType.FLOAT16_VALUE
        || elemType == TensorProto.DataType.BFLOAT16_VALUE;
  }

  public static TensorProto floats(String name, long[] dims, float[] data) {
    ByteBuffer buf = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    buf.asFloatBuffer().put(data);
    return raw(name, FLOAT, dims, buf.array());
  }

  public static TensorProto doubles(String name, long[] dims, double[] data) {
    ByteBuffer buf = ByteBuffer.allocate(data.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    buf.asDoubleBuffer().put(data);
    return raw(name, DOUBLE, dims, buf.array());
  }

  public static TensorProto longs(String name, long[] dims, long[] data) {
    ByteBuffer buf = ByteBuffer.allocate(data.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    buf.asLongBuffer().put(data);
    return raw(name, INT64, dims, buf.array());
  }

  /** A scalar or 1-D constant of a floating type given as doubles. */
  public static TensorProto ofType(String name, int elemType, long[] dims, double... values) {
    if (elemType == FLOAT) {
      float[] f = new float[values.length];
      for (int i = 0; i < f.length; i++) {
        f[i] = (float) values[i];
      }
      return floats(name, dims, f);
    }
    if (elemType == DOUBLE) {
      return doubles(name, dims, values);
    }
    if (elemType == FLOAT16 || elemType == BFLOAT16) {
      // The constants of a mixed-precision graph's backward (0, 1, 1/n, epsilon): nearest 16-bit value.
      ReducedFloat format = elemType == FLOAT16 ? ReducedFloat.FP16 : ReducedFloat.BF16;
      ByteBuffer buf = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
      for (double v : values) {
        buf.putShort(format.toBits((float) v));
      }
      return raw(name, elemType, dims, buf.array());
    }
    if (elemType == INT64) {
      long[] l = new long[values.length];
      for (int i = 0; i < l.length; i++) {
        l[i] = (long) values[i];
      }
      return longs(name, dims, l);
    }
    throw new OnnxFormatException("cannot build a constant of ONNX element type " + elemType);
  }

  private static TensorProto raw(String name, int type, long[] dims, byte[] bytes) {
    TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(type);
    for (long d : dims) {
      b.addDims(d);
    }
    return b.setRawData(ByteString.copyFrom(bytes)).build();
  }

  public static float[] toFloats(TensorProto t) {
    int n = (int) numel(dims(t));
    float[] out = new float[n];
    switch (t.getDataType()) {
      case TensorProto.DataType.FLOAT_VALUE -> {
        if (!t.getRawData().isEmpty()) {
          t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
        } else {
          for (int i = 0; i < n; i++) {
            out[i] = t.getFloatData(i);
          }
        }
      }
      case TensorProto.DataType.DOUBLE_VALUE -> {
        double[] d = toDoubles(t);
        for (int i = 0; i < n; i++) {
          out[i] = (float) d[i];
        }
      }
      default -> throw new OnnxFormatException("tensor " + t.getName() + ": element type "
          + t.getDataType() + " is not floating point");
    }
    return out;
  }

  public static double[] toDoubles(TensorProto t) {
    int n = (int) numel(dims(t));
    double[] out = new double[n];
    switch (t.getDataType()) {
      case TensorProto.DataType.DOUBLE_VALUE -> {
        if (!t.getRawData().isEmpty()) {
          t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asDoubleBuffer().get(out);
        } else {
          for (int i = 0; i < n; i++) {
            out[i] = t.getDoubleData(i);
          }
        }
      }
      case TensorProto.DataType.FLOAT_VALUE -> {
        float[] f = toFloats(t);
        for (int i = 0; i < n; i++) {
          out[i] = f[i];
        }
      }
      default -> {
        long[] l = toLongs(t);
        for (int i = 0; i < n; i++) {
          out[i] = l[i];
        }
      }
    }
    return out;
  }

  /** Integer tensors (int64, int32, bool) as longs; used for shapes, axes and indices. */
  public static long[] toLongs(TensorProto t) {
    int n = (int) numel(dims(t));
    long[] out = new long[n];
    ByteBuffer raw = t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    boolean hasRaw = !t.getRawData().isEmpty();
    switch (t.getDataType()) {
      case TensorProto.DataType.INT64_VALUE -> {
        for (int i = 0; i < n; i++) {
          out[i] = hasRaw ? raw.getLong(i * 8) : t.getInt64Data(i);
        }
      }
      case TensorProto.DataType.INT32_VALUE -> {
        for (int i = 0; i < n; i++) {
          out[i] = hasRaw ? raw.getInt(i * 4) : t.getInt32Data(i);
        }
      }
      case TensorProto.DataType.BOOL_VALUE, TensorProto.DataType.UINT8_VALUE,
          TensorProto.DataType.INT8_VALUE -> {
        for (int i = 0; i < n; i++) {
          out[i] = hasRaw ? raw.get(i) : t.getInt32Data(i);
        }
      }
      case TensorProto.DataType.FLOAT_VALUE, TensorProto.DataType.DOUBLE_VALUE -> {
        double[] d = toDoubles(t);
        for (int i = 0; i < n; i++) {
          out[i] = (long) d[i];
        }
      }
      default -> throw new OnnxFormatException("tensor " + t.getName() + ": element type "
          + t.getDataType() + " cannot be read as integers");
    }
    return out;
  }
}
