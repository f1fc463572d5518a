package io.wattlab.trainer.compress;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.wattlab.trainer.model.ModelFacts;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a pass did to a model, as the run report carries it: size and cost before and after
 * ({@link ModelFacts}: parameters, non-zero parameters, MACs per image, bytes), the time the
 * rewrite took, and the pass's own details.
 */
public record PassReport(String technique, Map<String, String> parameters, ModelFacts before, ModelFacts after,
    double passSeconds, Map<String, String> details) {

  /** Runs a pass on a model and measures it; facts need a fixed image size (ModelFacts.of). */
  public static Outcome run(CompressionPass pass, ModelProto model) {
    ModelFacts before = ModelFacts.of(model);
    long start = System.nanoTime();
    Compressed out = pass.apply(model);
    double seconds = (System.nanoTime() - start) / 1e9;
    ModelFacts after = ModelFacts.of(out.model());
    return new Outcome(out, new PassReport(pass.technique(), pass.parameters().asMap(), before, after, seconds,
        out.details()));
  }

  /** The compressed model with its report. */
  public record Outcome(Compressed compressed, PassReport report) {}

  /**
   * Flat string entries for {@code RunReport.compression}: {@code technique}, {@code parameters}
   * (key=value list), {@code parameters_before}/{@code _after}, {@code nonzero_parameters_*},
   * {@code macs_*}, {@code bytes_*}, {@code pass_seconds}, then the pass's details.
   */
  public Map<String, String> toMap() {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("technique", technique);
    m.put("parameters", canonical(parameters));
    m.put("parameters_before", Long.toString(before.parameters()));
    m.put("parameters_after", Long.toString(after.parameters()));
    m.put("nonzero_parameters_before", Long.toString(before.nonZeroParameters()));
    m.put("nonzero_parameters_after", Long.toString(after.nonZeroParameters()));
    m.put("macs_before", Long.toString(before.macsPerImage()));
    m.put("macs_after", Long.toString(after.macsPerImage()));
    m.put("bytes_before", Long.toString(before.bytes()));
    m.put("bytes_after", Long.toString(after.bytes()));
    m.put("pass_seconds", String.format(java.util.Locale.ROOT, "%.3f", passSeconds));
    details.forEach(m::putIfAbsent);
    return m;
  }

  static String canonical(Map<String, String> parameters) {
    StringBuilder s = new StringBuilder();
    new java.util.TreeMap<>(parameters).forEach((k, v) -> s.append(s.isEmpty() ? "" : ",").append(k).append('=').append(v));
    return s.toString();
  }
}
