package io.wattlab.trainer.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.OnnxModels;
import io.wattlab.trainer.onnx.Tensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class ModelFactsTest {

  /**
   * Input 4×8×8 → grouped strided Conv (groups 2, 6 outputs, 3×3, stride 2, pad 1: 6×4×4) →
   * Flatten (96) → Gemm to 5 → MatMul by 5×3. Hand counts: Conv 6·(4/2)·3·3·4·4 = 1,728; Gemm
   * 96·5 = 480; MatMul 5·3 = 15.
   */
  @Test
  void countsMacsParametersAndBytesOfASmallGraphByHand() {
    Graph g = new Graph(17);
    GraphBuilder b = new GraphBuilder(g, "");
    g.addInput("x", new TensorType(Tensors.FLOAT, new long[] {-1, 4, 8, 8}));
    float[] convW = new float[6 * 2 * 3 * 3];
    convW[0] = 1;
    convW[5] = -2;
    g.addInitializer(Tensors.floats("conv.w", new long[] {6, 2, 3, 3}, convW));
    g.addInitializer(Tensors.floats("conv.b", new long[] {6}, new float[6]));
    String y = b.op("Conv", List.of("x", "conv.w", "conv.b"), Attrs.ints("kernel_shape", 3, 3),
        Attrs.ints("strides", 2, 2), Attrs.ints("pads", 1, 1, 1, 1), Attrs.i("group", 2));
    y = b.op("Relu", b.mul(y, b.scalar(0.5, Tensors.FLOAT)));
    y = b.op("Flatten", List.of(y), Attrs.i("axis", 1));
    g.addInitializer(Tensors.floats("fc.w", new long[] {5, 96}, filled(480, 0.1f)));
    g.addInitializer(Tensors.floats("fc.b", new long[] {5}, filled(5, 0.2f)));
    y = b.op("Gemm", List.of(y, "fc.w", "fc.b"), Attrs.i("transB", 1));
    g.addInitializer(Tensors.floats("proj.w", new long[] {5, 3}, filled(15, 1f)));
    b.opInto("out", "MatMul", List.of(y, "proj.w"));
    g.outputs().put("out", new TensorType(Tensors.FLOAT, new long[] {-1, 3}));

    ModelFacts facts = ModelFacts.of(g.toModel());
    assertEquals(1_728 + 480 + 15, facts.macsPerImage());
    assertEquals(108 + 6 + 480 + 5 + 15, facts.parameters(), "the scalar 0.5 is a constant, not a parameter");
    assertEquals(2 + 480 + 5 + 15, facts.nonZeroParameters());
    assertEquals(4L * (108 + 6 + 480 + 5 + 15 + 1), facts.bytes(), "every initializer, the scalar included");
  }

  /**
   * ResNet-20 (He et al. 2016, table 6: 0.27M parameters) with projection shortcuts, counted by
   * hand: convolutions 432 + 6·2,304 + (4,608 + 5·9,216 + 512) + (18,432 + 5·36,864 + 2,048),
   * 784 BatchNorm channels with γ and β, Gemm 64·10 + 10.
   */
  @Test
  void resnetCifarMatchesItsHandCount() {
    ModelFacts facts = ModelFacts.of(BuiltinModels.create("resnet-cifar", 10, 3, 32, 32));
    assertEquals(272_474, facts.parameters());
    // Per output position: stem 27·16 over 32², stage 1 over 32², stage 2 over 16², stage 3 over 8².
    long macs = 432L * 1024 + 6L * 2304 * 1024 + (4608L + 5 * 9216 + 512) * 256
        + (18432L + 5 * 36864 + 2048) * 64 + 640;
    assertEquals(macs, facts.macsPerImage());
    assertEquals(40_813_184, macs, "about 41M, the figure usually quoted for ResNet-20");
    // Parameters and the 784·2 running statistics as float32, plus the two ReLU-free scalars: none here.
    assertEquals(4L * (272_474 + 2 * 784), facts.bytes());
    assertTrue(facts.nonZeroParameters() > 0.95 * facts.parameters(), "β = 0 are the only zeros");
    assertEquals(272_474 - 784, facts.nonZeroParameters());
  }

  /**
   * torchvision's resnet18 as torch exports it (Identity-shared BatchNorm weights included):
   * 11,689,512 parameters and 1.81 GMACs at 224×224 (torchvision's model table, ResNet18_Weights).
   * At 32×32 every feature map is exactly 1/49 of its 224×224 size, so the convolutions cost
   * exactly 1/49 as much and only the Gemm differs.
   */
  @Test
  void torchvisionResnet18MatchesPublishedFigures() throws Exception {
    ModelFacts at224 = ModelFacts.of(export("resnet18", 224, 1000));
    assertEquals(11_689_512, at224.parameters());
    assertEquals(1.81e9, at224.macsPerImage(), 0.01e9);
    ModelFacts at32 = ModelFacts.of(export("resnet18", 32, 10));
    long convAt224 = at224.macsPerImage() - 512 * 1000;
    assertEquals(0, convAt224 % 49);
    assertEquals(convAt224 / 49 + 512 * 10, at32.macsPerImage());
  }

  /** A torchvision model exported by tools/onnx-reference/reference.py (cached under target/). */
  static ModelProto export(String model, int size, int classes) throws Exception {
    Path base = Path.of(System.getProperty("wattlab.reference.dir", "target/onnx-reference"));
    Path dir = base.resolve("facts_" + model + "_" + size + "_" + classes);
    Path file = dir.resolve("model.onnx");
    if (!Files.exists(file)) {
      Files.createDirectories(dir);
      Path script = Path.of(System.getProperty("wattlab.tools.dir", "../tools/onnx-reference"), "reference.py");
      Process p = new ProcessBuilder(System.getProperty("wattlab.reference.python", "/usr/bin/python3"),
          script.toString(), "--model", model, "--out", dir.toString(), "--size", Integer.toString(size),
          "--classes", Integer.toString(classes), "--batch", "1", "--export-only", "1")
          .redirectErrorStream(true).redirectOutput(dir.resolve("export.log").toFile()).start();
      assertTrue(p.waitFor(10, TimeUnit.MINUTES), "reference.py timed out");
      assertEquals(0, p.exitValue(), () -> "reference.py failed: " + read(dir.resolve("export.log")));
    }
    return OnnxModels.read(file);
  }

  private static String read(Path p) {
    try {
      return Files.readString(p);
    } catch (java.io.IOException e) {
      return e.toString();
    }
  }

  private static float[] filled(int n, float v) {
    float[] a = new float[n];
    java.util.Arrays.fill(a, v);
    return a;
  }
}
