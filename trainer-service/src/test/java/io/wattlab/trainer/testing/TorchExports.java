package io.wattlab.trainer.testing;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.wattlab.trainer.onnx.OnnxModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Randomly initialised torchvision models exported to ONNX by tools/onnx-reference/reference.py
 * (Debian's python3-torch; nothing downloaded), BatchNorm kept, batch size 1, cached under
 * {@code wattlab.reference.dir} so that each is exported once per build directory.
 */
public final class TorchExports {

  private TorchExports() {}

  /**
   * @param model a torchvision model name (resnet18, mobilenet_v2, efficientnet_b0, densenet121,
   *     vgg16, resnet50) or reference.py's "tiny" and "mlp"
   * @param size image height and width (vgg16 needs 224: its pooling to 7×7 does not export from less)
   */
  public static Path file(String model, int size, int classes) throws IOException, InterruptedException {
    Path base = Path.of(System.getProperty("wattlab.reference.dir", "target/onnx-reference"));
    Path dir = base.resolve("torch-" + model + "-" + size + "-" + classes);
    if (!Files.exists(dir.resolve("index.tsv"))) {
      Files.createDirectories(dir);
      Path script = Path.of(System.getProperty("wattlab.tools.dir", "../tools/onnx-reference"), "reference.py");
      List<String> cmd = List.of(System.getProperty("wattlab.reference.python", "/usr/bin/python3"),
          script.toString(), "--model", model, "--out", dir.toString(), "--size", Integer.toString(size),
          "--classes", Integer.toString(classes), "--batch", "1", "--export-only", "1");
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
          .redirectOutput(dir.resolve("reference.log").toFile()).start();
      if (!p.waitFor(15, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        throw new IOException("reference.py timed out exporting " + model);
      }
      if (p.exitValue() != 0) {
        throw new IOException("reference.py failed exporting " + model + ": "
            + Files.readString(dir.resolve("reference.log")));
      }
    }
    return dir.resolve("model.onnx");
  }

  public static ModelProto model(String model, int size, int classes) throws IOException, InterruptedException {
    return OnnxModels.read(file(model, size, classes));
  }
}
