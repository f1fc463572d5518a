package io.wattlab.trainer.compress.lowrank;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Map;
import org.ejml.data.DMatrixRMaj;

/**
 * Dense float32 matrix products C = op(A)·B computed by ONNX Runtime's CPU GEMM (MLAS: blocked,
 * vectorised and multi-threaded), through a one-node Gemm graph held open for the JVM's lifetime.
 * This is linear algebra on the pass's own matrices, not a run of the model being compressed.
 */
final class OrtGemm {
  private OrtGemm() {}

  /** A row-major float32 matrix handed to ONNX Runtime once and reused across products. */
  static final class Operand implements AutoCloseable {
    final int rows;
    final int cols;
    private final OnnxTensor tensor;

    /** Copies {@code data} (rows×cols, row-major) into native-ordered direct memory. */
    Operand(float[] data, int rows, int cols) {
      this(checked(rows, cols, data.length).put(data).rewind(), rows, cols);
    }

    /** A double matrix rounded to float32, without a float[] copy of it on the heap. */
    static Operand of(DMatrixRMaj m) {
      FloatBuffer buffer = checked(m.numRows, m.numCols, m.getNumElements());
      for (int i = 0; i < m.getNumElements(); i++) {
        buffer.put((float) m.data[i]);
      }
      return new Operand(buffer.rewind(), m.numRows, m.numCols);
    }

    private static FloatBuffer checked(int rows, int cols, int length) {
      if ((long) rows * cols != length) {
        throw new IllegalArgumentException(length + " values do not make a " + rows + "×" + cols + " matrix");
      }
      // A direct buffer in native order is used by ONNX Runtime in place, without another copy.
      return ByteBuffer.allocateDirect(Math.multiplyExact(length, Float.BYTES)).order(ByteOrder.nativeOrder())
          .asFloatBuffer();
    }

    private Operand(FloatBuffer buffer, int rows, int cols) {
      this.rows = rows;
      this.cols = cols;
      try {
        tensor = OnnxTensor.createTensor(OrtEnvironment.getEnvironment(), buffer, new long[] {rows, cols});
      } catch (OrtException e) {
        throw new IllegalStateException("ONNX Runtime refused a " + rows + "×" + cols + " tensor: " + e.getMessage(), e);
      }
    }

    @Override
    public void close() {
      tensor.close();
    }
  }

  /** op(A)·B, row-major, where op(A) is A or, with {@code transposeA}, Aᵀ. */
  static float[] multiply(Operand a, boolean transposeA, Operand b) {
    int inner = transposeA ? a.rows : a.cols;
    int outRows = transposeA ? a.cols : a.rows;
    if (inner != b.rows) {
      throw new IllegalArgumentException("cannot multiply " + (transposeA ? "the transpose of " : "") + "a "
          + a.rows + "×" + a.cols + " matrix by a " + b.rows + "×" + b.cols + " one");
    }
    OrtSession session = transposeA ? Sessions.TRANSPOSED_A : Sessions.PLAIN;
    try (OrtSession.Result result = session.run(Map.of("A", a.tensor, "B", b.tensor))) {
      FloatBuffer out = ((OnnxTensor) result.get(0)).getFloatBuffer();
      float[] c = new float[Math.multiplyExact(outRows, b.cols)];
      out.get(c);
      return c;
    } catch (OrtException e) {
      throw new IllegalStateException("ONNX Runtime's Gemm failed on " + a.rows + "×" + a.cols + " and "
          + b.rows + "×" + b.cols + ": " + e.getMessage(), e);
    }
  }

  /** op(A)·B for matrices given as arrays; each call copies both into ONNX Runtime. */
  static float[] multiply(float[] a, int aRows, int aCols, boolean transposeA, float[] b, int bCols) {
    try (Operand left = new Operand(a, aRows, aCols);
        Operand right = new Operand(b, b.length / bCols, bCols)) {
      return multiply(left, transposeA, right);
    }
  }

  /** The two sessions, opened on first use (class initialisation is lazy and thread-safe). */
  private static final class Sessions {
    static final OrtSession PLAIN = open(false);
    static final OrtSession TRANSPOSED_A = open(true);

    private static OrtSession open(boolean transposeA) {
      NodeProto gemm = NodeProto.newBuilder().setOpType("Gemm").setName("gemm")
          .addInput("A").addInput("B").addOutput("C")
          .addAttribute(AttributeProto.newBuilder().setName("transA").setType(AttributeProto.AttributeType.INT)
              .setI(transposeA ? 1 : 0))
          .build();
      GraphProto graph = GraphProto.newBuilder().setName("low_rank_gemm").addNode(gemm)
          .addInput(matrix("A", "a0", "a1")).addInput(matrix("B", "k", "n")).addOutput(matrix("C", "m", "n"))
          .build();
      ModelProto model = ModelProto.newBuilder().setIrVersion(7).setProducerName("wattlab low_rank")
          .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13)).setGraph(graph).build();
      try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
        return OrtEnvironment.getEnvironment().createSession(model.toByteArray(), options);
      } catch (OrtException e) {
        throw new IllegalStateException("ONNX Runtime refused the one-node Gemm graph: " + e.getMessage(), e);
      }
    }

    private static ValueInfoProto matrix(String name, String rows, String cols) {
      TensorShapeProto shape = TensorShapeProto.newBuilder()
          .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam(rows))
          .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam(cols)).build();
      TypeProto type = TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder()
          .setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(shape)).build();
      return ValueInfoProto.newBuilder().setName(name).setType(type).build();
    }
  }
}
