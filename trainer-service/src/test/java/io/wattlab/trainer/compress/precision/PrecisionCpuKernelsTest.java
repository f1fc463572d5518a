package io.wattlab.trainer.compress.precision;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto.DataType;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.onnx.ReducedFloat;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What {@link PrecisionPass#CPU_KERNELS} claims about ONNX Runtime's CPU provider, checked on the
 * ONNX Runtime on the class path: one-node 16-bit graphs, the graph ONNX Runtime really runs read
 * back from its optimized-model output. When an upgrade brings kernels, this fails and the claim
 * (and the pass's compute) must change.
 */
class PrecisionCpuKernelsTest {

  @TempDir
  Path dir;

  private static ValueInfoProto value(String name, int type, long... dims) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    for (long d : dims) {
      shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
    }
    return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder()
        .setTensorType(TypeProto.Tensor.newBuilder().setElemType(type).setShape(shape))).build();
  }

  private static ModelProto oneNode(String op, List<ValueInfoProto> inputs, ValueInfoProto output) {
    NodeProto.Builder node = NodeProto.newBuilder().setOpType(op).setName("probe_" + op).addOutput(output.getName());
    inputs.forEach(i -> node.addInput(i.getName()));
    return ModelProto.newBuilder().setIrVersion(8)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
        .setGraph(GraphProto.newBuilder().setName(op).addNode(node).addAllInput(inputs).addOutput(output)).build();
  }

  private static ModelProto conv(int type) {
    return oneNode("Conv", List.of(value("x", type, 2, 3, 8, 8), value("w", type, 4, 3, 3, 3), value("b", type, 4)),
        value("y", type, 2, 4, 6, 6));
  }

  private static ModelProto gemm(int type) {
    return oneNode("Gemm", List.of(value("x", type, 2, 8), value("w", type, 8, 4), value("b", type, 4)),
        value("y", type, 2, 4));
  }

  /** The nodes ONNX Runtime runs for a model, after its graph transformers. */
  private List<NodeProto> executed(ModelProto model) throws Exception {
    Path optimized = dir.resolve(model.getGraph().getName() + ".onnx");
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      options.setOptimizedModelFilePath(optimized.toString());
      try (OrtSession session = OrtEnvironment.getEnvironment().createSession(model.toByteArray(), options)) {
        assertEquals(1, session.getOutputNames().size());
      }
    }
    return ModelProto.parseFrom(Files.readAllBytes(optimized)).getGraph().getNodeList();
  }

  @Test
  void float16ConvRunsInFloat32BetweenCastsWhileGemmHasAKernel() throws Exception {
    List<NodeProto> conv = executed(conv(DataType.FLOAT16_VALUE));
    NodeProto convNode = conv.stream().filter(n -> n.getOpType().equals("Conv")).findFirst().orElseThrow();
    long casts = conv.stream().filter(n -> n.getOpType().equals("Cast")).count();
    assertEquals(4, casts, "x, w, b cast to float32 and y back: " + conv);
    assertTrue(convNode.getInput(0).startsWith("InsertedPrecisionFreeCast"), convNode.toString());
    assertTrue(PrecisionPass.CPU_KERNELS.get(ReducedFloat.FP16).contains("InsertedPrecisionFreeCast"));

    List<NodeProto> gemm = executed(gemm(DataType.FLOAT16_VALUE));
    assertEquals(List.of("Gemm"), gemm.stream().map(NodeProto::getOpType).toList(), "a float16 Gemm kernel: " + gemm);
  }

  @Test
  void bfloat16IsRefusedWithTheErrorTheReportQuotes() {
    OrtException conv = assertThrows(OrtException.class, () -> executed(conv(DataType.BFLOAT16_VALUE)));
    assertTrue(conv.getMessage().contains("Type 'tensor(bfloat16)' of input parameter (x) of operator (Conv)"),
        conv.getMessage());
    assertTrue(PrecisionPass.CPU_KERNELS.get(ReducedFloat.BF16)
        .contains("Type 'tensor(bfloat16)' of input parameter (x) of operator (Conv) is invalid"));
    OrtException gemm = assertThrows(OrtException.class, () -> executed(gemm(DataType.BFLOAT16_VALUE)));
    assertTrue(gemm.getMessage().contains("ORT_NOT_IMPLEMENTED"), gemm.getMessage());
  }
}
