package io.wattlab.trainer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.wattlab.trainer.compress.mantissa.CapacityAnalysis;
import io.wattlab.trainer.compress.mantissa.CapacityAnalysis.LayerCapacity;
import io.wattlab.trainer.compress.mantissa.CapacityAnalysis.Point;
import io.wattlab.trainer.compress.mantissa.TrainedSynthetic;
import io.wattlab.trainer.train.ExecutionConfig;
import java.util.ArrayList;
import java.util.List;
import io.wattlab.trainer.model.Pretrainer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code trainer-service capacity} in-process, on a trained built-in model named by a run spec. */
class CapacityCommandTest {

  @TempDir
  Path dir;

  private record Outcome(int status, String out, String err) {}

  private static Outcome capacity(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int status = CapacityCommand.run(args, new PrintStream(out, true), new PrintStream(err, true));
    return new Outcome(status, out.toString(), err.toString());
  }

  /** The trained checkpoint and its synthetic task, {@code testImages} of them to keep the test short. */
  private Path spec(int testImages) throws Exception {
    Pretrainer.Report trained = TrainedSynthetic.report();
    Path spec = dir.resolve("capacity.yaml");
    Files.writeString(spec, """
        model: {builtin: resnet-cifar, checkpoint_path: "%s"}
        dataset:
          format: synthetic
          options: {classes: "4", size: "16x16", channels: "3", train: "512", test: "%d", difficulty: easy, seed: "11"}
        batch_size: 32
        seed: 3
        """.formatted(trained.checkpoint().toAbsolutePath(), testImages));
    return spec;
  }

  @Test
  void printsTheCurveAndTheCapacity() throws Exception {
    Outcome o = capacity(spec(64).toString(), "--tolerance", "2");
    assertEquals(0, o.status(), o.err());
    String table = o.out();
    assertTrue(table.startsWith("steganographic capacity of resnet-cifar on synthetic: 64 test images,"), table);
    assertTrue(table.contains("tolerance 2 points, seed 3"), table);
    for (int n = 0; n <= 23; n++) {
      assertTrue(Pattern.compile("(?m)^\\s*" + n + "\\s+[01]\\.\\d{4}\\s+[+-]\\d+\\.\\d{2}").matcher(table).find(),
          "row for N=" + n + " in\n" + table);
    }
    Matcher capacity = Pattern.compile("capacity: (\\d+) bits per weight").matcher(table);
    assertTrue(capacity.find(), table);
    int bits = Integer.parseInt(capacity.group(1));
    assertTrue(bits >= 12 && bits < 23, table);
    assertTrue(table.contains(String.format("%4d", bits) + "  ") && table.contains("<- capacity"), table);
    assertTrue(table.contains("+0.00"), "N=0 is the baseline: " + table);
  }

  @Test
  void jsonCarriesTheCurve() throws Exception {
    Outcome o = capacity("--json", spec(64).toString(), "--images", "32");
    assertEquals(0, o.status(), o.err());
    JsonObject json = JsonParser.parseString(o.out()).getAsJsonObject();
    assertEquals(24, json.getAsJsonArray("curve").size());
    assertEquals(32, json.get("test_images").getAsInt());
    assertEquals(json.get("baseline_top1").getAsDouble(),
        json.getAsJsonArray("curve").get(0).getAsJsonObject().get("top1").getAsDouble());
    assertEquals(1.0, json.get("tolerance_points").getAsDouble());
    assertEquals(json.get("capacity_bits").getAsLong() * json.get("weight_values").getAsLong(),
        json.get("capacity_total_bits").getAsLong());
    assertEquals(0, json.getAsJsonArray("layers").size(), "per layer only when asked");
  }

  /** Per-layer rendering on a result built by hand (CapacityAnalysisTest runs the per-layer search itself). */
  @Test
  void perLayerRowsNameTheLayerItsCapacityAndWhatWasEvaluated() {
    ExecutionConfig cpu = ExecutionConfig.cpu(1);
    List<Point> curve = new ArrayList<>();
    for (int n = 0; n <= 23; n++) {
      curve.add(new Point(n, n <= 20 ? 0.9 : 0.3));
    }
    CapacityAnalysis.Result r = new CapacityAnalysis.Result(new CapacityAnalysis.Settings(1, true, 5, 32, 0, cpu), 0.9,
        curve, 20, 1000, 64, List.of(
            new LayerCapacity("/layer1/conv1/Conv", "Conv", 900, 23, List.of(new Point(23, 0.9))),
            new LayerCapacity("/fc/Gemm", "Gemm", 100, 17, List.of(new Point(23, 0.5), new Point(11, 0.9),
                new Point(17, 0.9), new Point(20, 0.8), new Point(18, 0.85), new Point(17, 0.9)))), 1.5);
    String table = CapacityCommand.table("resnet18", "cifar10", r);
    assertTrue(table.contains("capacity: 20 bits per weight, 20,000 bits in all"), table);
    assertTrue(table.contains("  20   0.9000     +0.00  <- capacity"), table);
    assertTrue(table.contains("  21   0.3000    -60.00\n"), table);
    assertTrue(Pattern.compile("(?m)^/fc/Gemm\\s+Gemm\\s+100\\s+17\\s+23: 0.5000, 11: 0.9000, 17: 0.9000, 20: 0.8000")
        .matcher(table).find(), table);
    JsonObject json = JsonParser.parseString(CapacityCommand.json("resnet18", "cifar10", r)).getAsJsonObject();
    assertEquals(17, json.getAsJsonArray("layers").get(1).getAsJsonObject().get("capacity_bits").getAsInt());
    assertEquals(6, json.getAsJsonArray("layers").get(1).getAsJsonObject().getAsJsonArray("evaluated").size());
  }

  @Test
  void wrongArgumentsAreNamed() throws Exception {
    Outcome none = capacity();
    assertEquals(Main.EXIT_USAGE, none.status());
    assertTrue(none.err().contains("capacity needs a spec file"), none.err());
    Outcome images = capacity("x.yaml", "--images", "0");
    assertEquals(Main.EXIT_USAGE, images.status());
    assertTrue(images.err().contains("--images 0 must be at least 1"), images.err());
    Outcome tolerance = capacity("x.yaml", "--tolerance", "lots");
    assertEquals(Main.EXIT_USAGE, tolerance.status());
    assertTrue(tolerance.err().contains("--tolerance 'lots' is not a number"), tolerance.err());
    Outcome missing = capacity(dir.resolve("missing.yaml").toString());
    assertEquals(Main.EXIT_USAGE, missing.status());
    assertTrue(missing.err().contains("no such file"), missing.err());
    Path spec = dir.resolve("bad-model.yaml");
    Files.writeString(spec, "model: {onnx_path: " + dir.resolve("nope.onnx") + "}\n"
        + "dataset: {format: synthetic, options: {classes: \"2\", size: \"8x8\", train: \"8\", test: \"4\"}}\n");
    Outcome bad = capacity(spec.toString());
    assertEquals(Main.EXIT_USAGE, bad.status(), "the spec check finds the missing model file");
    assertTrue(bad.err().contains("nope.onnx"), bad.err());
  }
}
