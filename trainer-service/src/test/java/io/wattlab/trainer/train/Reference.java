package io.wattlab.trainer.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.wattlab.trainer.onnx.OnnxModels;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * PyTorch reference data made at test time by tools/onnx-reference/reference.py (Debian's
 * python3-torch), cached under target/onnx-reference so each configuration is exported once.
 */
final class Reference {
  final Path dir;
  final Map<String, Map<String, float[]>> floats = new LinkedHashMap<>();
  /** Tensors the script wrote in float64 (the trajectory of a {@code --float64 1} run), by kind and name. */
  final Map<String, Map<String, double[]>> doubles = new LinkedHashMap<>();
  final Map<String, long[]> dims = new LinkedHashMap<>();
  long[] labels;

  private Reference(Path dir) {
    this.dir = dir;
  }

  static Reference of(String model, String... args) throws IOException, InterruptedException {
    String key = model + String.join("", args).replaceAll("[^A-Za-z0-9.]+", "_");
    Path base = Path.of(System.getProperty("wattlab.reference.dir", "target/onnx-reference"));
    Path dir = base.resolve(key);
    if (!Files.exists(dir.resolve("index.tsv"))) {
      Path script = Path.of(System.getProperty("wattlab.tools.dir", "../tools/onnx-reference"), "reference.py");
      List<String> cmd = new ArrayList<>(List.of(System.getProperty("wattlab.reference.python", "/usr/bin/python3"),
          script.toString(), "--model", model, "--out", dir.toString()));
      cmd.addAll(List.of(args));
      Files.createDirectories(dir);
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
          .redirectOutput(dir.resolve("reference.log").toFile()).start();
      assertTrue(p.waitFor(15, TimeUnit.MINUTES), "reference.py timed out");
      assertTrue(p.exitValue() == 0, () -> "reference.py failed: " + read(dir.resolve("reference.log")));
    }
    Reference r = new Reference(dir);
    for (String line : Files.readAllLines(dir.resolve("index.tsv"))) {
      if (line.isBlank()) {
        continue;
      }
      String[] f = line.split("\t", -1);
      byte[] bytes = Files.readAllBytes(dir.resolve(f[4]));
      ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
      long[] d = f[3].isEmpty() ? new long[0]
          : java.util.Arrays.stream(f[3].split(",")).mapToLong(Long::parseLong).toArray();
      r.dims.put(f[0] + "/" + f[1], d);
      if (f[2].equals("int64")) {
        long[] v = new long[bytes.length / 8];
        buf.asLongBuffer().get(v);
        r.labels = v;
      } else if (f[2].equals("float64")) {
        double[] v = new double[bytes.length / 8];
        buf.asDoubleBuffer().get(v);
        r.doubles.computeIfAbsent(f[0], k -> new LinkedHashMap<>()).put(f[1], v);
      } else {
        float[] v = new float[bytes.length / 4];
        buf.asFloatBuffer().get(v);
        r.floats.computeIfAbsent(f[0], k -> new LinkedHashMap<>()).put(f[1], v);
      }
    }
    return r;
  }

  private static String read(Path p) {
    try {
      return Files.readString(p);
    } catch (IOException e) {
      return e.toString();
    }
  }

  ModelProto model() {
    return OnnxModels.read(dir.resolve("model.onnx"));
  }

  float[] input() {
    return floats.get("input").get("input");
  }

  float loss() {
    return floats.get("loss").get("loss")[0];
  }

  Map<String, float[]> grads() {
    return floats.get("grad");
  }

  Map<String, float[]> finals() {
    return floats.get("final");
  }

  static double norm(float[] a) {
    double s = 0;
    for (float v : a) {
      s += (double) v * v;
    }
    return Math.sqrt(s);
  }

  /** ||a - b|| / ||b||, the relative error of a whole tensor. */
  static double relativeError(float[] a, float[] b) {
    double diff = 0;
    double ref = 0;
    for (int i = 0; i < a.length; i++) {
      diff += (double) (a[i] - b[i]) * (a[i] - b[i]);
      ref += (double) b[i] * b[i];
    }
    return Math.sqrt(diff) / Math.max(Math.sqrt(ref), 1e-12);
  }

  /** ||a - b||. */
  static double distance(double[] a, double[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += (a[i] - b[i]) * (a[i] - b[i]);
    }
    return Math.sqrt(s);
  }
}
