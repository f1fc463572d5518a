package io.wattlab.trainer.compress;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.wattlab.trainer.train.ParameterConstraint;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a pass returns: the rewritten model, the pass's own figures for the report (layers
 * touched, chosen ranks, thresholds; keys in snake_case) and the constraints training must
 * re-impose after every optimizer step so that the compression survives fine-tuning.
 */
public record Compressed(ModelProto model, Map<String, String> details, List<ParameterConstraint> constraints) {

  public Compressed {
    // In the pass's own order: the report lists them as the pass put them.
    details = Collections.unmodifiableMap(new LinkedHashMap<>(details));
    constraints = List.copyOf(constraints);
  }

  /** A pass result that training needs not watch. */
  public static Compressed of(ModelProto model, Map<String, String> details) {
    return new Compressed(model, details, List.of());
  }
}
