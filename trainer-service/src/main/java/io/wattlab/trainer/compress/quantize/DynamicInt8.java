package io.wattlab.trainer.compress.quantize;

import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.onnx.Tensors;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Dynamic int8 quantization of Gemm and MatMul, as ONNX Runtime's dynamic quantization lays it
 * out: the weight is stored as int8 ({@code [K, N]}, symmetric, per output column or per tensor);
 * at run time DynamicQuantizeLinear turns the input into uint8 with a scale of its own range,
 * MatMulInteger multiplies in integers, and the int32 result is cast and rescaled by input scale ×
 * weight scale (then the Gemm's bias is added in float). No calibration is needed; ONNX Runtime
 * fuses the chain into DynamicQuantizeMatMul / MatMulIntegerToFloat.
 */
final class DynamicInt8 {

  /** What the rewrite did: layers quantized, and those left in float with the reason. */
  record Result(int gemm, int matmul, Map<String, String> skipped) {}

  private DynamicInt8() {}

  static Result rewrite(Graph g, boolean perChannel, int weightMax) {
    Map<String, Node> producers = g.producers();
    Map<String, String> skipped = new LinkedHashMap<>();
    int gemm = 0;
    int matmul = 0;
    for (Node n : new ArrayList<>(g.nodes())) {
      boolean isGemm = n.opType().equals("Gemm");
      if (!isGemm && !n.opType().equals("MatMul")) {
        continue;
      }
      TensorProto w = BatchNormFolding.constant(g, producers, n.input(1));
      String reason = null;
      if (w == null || w.getDimsCount() != 2 || w.getDataType() != Tensors.FLOAT) {
        reason = "its weight is not a constant float matrix";
      } else if (isGemm && n.attrInt("transA", 0) != 0) {
        reason = "transA=1 is not quantized";
      } else if (BatchNormFolding.constant(g, producers, n.input(0)) != null) {
        reason = "its input is a constant";
      }
      if (reason != null) {
        skipped.put(n.name().isEmpty() ? n.output(0) : n.name(), n.opType() + ": " + reason);
        continue;
      }
      long[] dims = Tensors.dims(w);
      float[] values = Tensors.toFloats(w);
      boolean transposed = isGemm && n.attrInt("transB", 0) == 1;
      if (transposed) {
        values = transpose(values, (int) dims[0], (int) dims[1]);
        dims = new long[] {dims[1], dims[0]};
      }
      Quantization.Weight q = Quantization.symmetric(values, dims, perChannel ? 1 : -1, weightMax);
      float alpha = isGemm ? n.attrFloat("alpha", 1f) : 1f;
      float[] scales = q.scales().clone();
      for (int i = 0; i < scales.length; i++) {
        scales[i] *= alpha;
      }
      String base = n.input(1);
      String weight = g.fresh(base + "_int8");
      g.addInitializer(Quantization.int8(weight, dims, q.values()));
      String weightScale = g.fresh(base + "_scale");
      g.addInitializer(Quantization.floats(weightScale, Quantization.paramDims(scales.length, perChannel), scales));

      GraphBuilder b = new GraphBuilder(g, (n.name().isEmpty() ? n.output(0) : n.name()) + "/int8/");
      List<String> x = b.ops("DynamicQuantizeLinear", 3, List.of(n.input(0)));
      String product = b.op("MatMulInteger", x.get(0), weight, x.get(2));
      String scale = b.mul(x.get(1), weightScale);
      String y = n.output(0);
      String bias = isGemm ? n.input(2) : "";
      if (bias.isEmpty()) {
        b.opInto(y, "Mul", List.of(b.cast(product, Tensors.FLOAT), scale));
      } else {
        String scaled = b.mul(b.cast(product, Tensors.FLOAT), scale);
        float beta = n.attrFloat("beta", 1f);
        String c = beta == 1f ? bias : b.mul(bias, b.scalar(beta, Tensors.FLOAT));
        b.opInto(y, "Add", List.of(scaled, c));
      }
      g.nodes().remove(n);
      if (isGemm) {
        gemm++;
      } else {
        matmul++;
      }
    }
    g.sortTopologically();
    g.removeUnused();
    return new Result(gemm, matmul, skipped);
  }

  private static float[] transpose(float[] m, int rows, int cols) {
    float[] t = new float[m.length];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        t[c * rows + r] = m[r * cols + c];
      }
    }
    return t;
  }
}
