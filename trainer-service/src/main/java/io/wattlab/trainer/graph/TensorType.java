package io.wattlab.trainer.graph;

import java.util.Arrays;

/**
 * The element type (ONNX DataType number) and static shape of a value; a dimension of -1 is unknown.
 */
public record TensorType(int elemType, long[] dims) {

  public int rank() {
    return dims.length;
  }

  public long dim(int axis) {
    return dims[axis < 0 ? axis + dims.length : axis];
  }

  public boolean isStatic() {
    return Arrays.stream(dims).allMatch(d -> d >= 0);
  }

  public long numel() {
    long n = 1;
    for (long d : dims) {
      n *= d;
    }
    return n;
  }

  public TensorType withDims(long[] newDims) {
    return new TensorType(elemType, newDims);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TensorType t && t.elemType == elemType && Arrays.equals(t.dims, dims);
  }

  @Override
  public int hashCode() {
    return 31 * elemType + Arrays.hashCode(dims);
  }

  @Override
  public String toString() {
    return "type" + elemType + Arrays.toString(dims);
  }
}
