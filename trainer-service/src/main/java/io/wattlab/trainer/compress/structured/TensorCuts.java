package io.wattlab.trainer.compress.structured;

import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.onnx.Tensors;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/** Index arithmetic on float tensors: removing or zeroing indices along axes, norms per index range. */
final class TensorCuts {

  private TensorCuts() {}

  /** A copy of a FLOAT or DOUBLE tensor, renamed, without the listed indices of each axis. */
  static TensorProto drop(TensorProto t, Map<Integer, Set<Long>> cuts, String name) {
    long[] dims = Tensors.dims(t);
    int last = new TreeMap<>(cuts).lastKey();
    int[][] kept = new int[last + 1][];
    long[] outDims = dims.clone();
    for (int axis = 0; axis <= last; axis++) {
      Set<Long> cut = cuts.getOrDefault(axis, Set.of());
      int[] k = new int[(int) dims[axis]];
      int count = 0;
      for (int i = 0; i < dims[axis]; i++) {
        if (!cut.contains((long) i)) {
          k[count++] = i;
        }
      }
      kept[axis] = Arrays.copyOf(k, count);
      outDims[axis] = count;
    }
    long[] strides = strides(dims);
    int chunk = (int) strides[last];
    int size = (int) Tensors.numel(outDims);
    if (t.getDataType() == Tensors.DOUBLE) {
      double[] dst = new double[size];
      copy(Tensors.toDoubles(t), dst, kept, strides, 0, 0, 0, chunk);
      return Tensors.doubles(name, outDims, dst);
    }
    float[] dst = new float[size];
    copy(Tensors.toFloats(t), dst, kept, strides, 0, 0, 0, chunk);
    return Tensors.floats(name, outDims, dst);
  }

  /** Copies the kept chunks of axes 0..last in order; returns the next write position. */
  private static int copy(Object src, Object dst, int[][] kept, long[] strides, int axis, long from, int to,
      int chunk) {
    for (int i : kept[axis]) {
      long at = from + i * strides[axis];
      if (axis == kept.length - 1) {
        System.arraycopy(src, (int) at, dst, to, chunk);
        to += chunk;
      } else {
        to = copy(src, dst, kept, strides, axis + 1, at, to, chunk);
      }
    }
    return to;
  }

  /** A copy of a FLOAT tensor with the listed indices of one axis set to zero. */
  static TensorProto zero(TensorProto t, int axis, Set<Long> indices, String name) {
    long[] dims = Tensors.dims(t);
    long inner = strides(dims)[axis];
    float[] v = Tensors.toFloats(t);
    for (int i = 0; i < v.length; i++) {
      if (indices.contains((i / inner) % dims[axis])) {
        v[i] = 0;
      }
    }
    return Tensors.floats(name, dims, v);
  }

  /**
   * The L1 or L2 norm of each channel's slice of a weight: channel c is the indices
   * {@code [offset + c·block, offset + (c+1)·block)} of the axis.
   */
  static double[] norms(TensorProto t, int axis, long offset, long block, int channels, boolean l2) {
    long[] dims = Tensors.dims(t);
    long inner = strides(dims)[axis];
    double[] sums = new double[channels];
    boolean isFloat = t.getDataType() == Tensors.FLOAT;
    float[] f = isFloat ? Tensors.toFloats(t) : null;
    double[] d = isFloat ? null : Tensors.toDoubles(t);
    int size = isFloat ? f.length : d.length;
    for (int i = 0; i < size; i++) {
      long index = (i / inner) % dims[axis] - offset;
      if (index >= 0 && index < channels * block) {
        double v = isFloat ? f[i] : d[i];
        sums[(int) (index / block)] += l2 ? v * v : Math.abs(v);
      }
    }
    if (l2) {
      for (int c = 0; c < channels; c++) {
        sums[c] = Math.sqrt(sums[c]);
      }
    }
    return sums;
  }

  /** Elements per step of each axis (row-major). */
  private static long[] strides(long[] dims) {
    long[] s = new long[dims.length];
    long step = 1;
    for (int i = dims.length - 1; i >= 0; i--) {
      s[i] = step;
      step *= dims[i];
    }
    return s;
  }
}
