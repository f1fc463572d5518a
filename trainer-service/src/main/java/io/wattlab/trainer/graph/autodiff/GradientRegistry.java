package io.wattlab.trainer.graph.autodiff;

import java.util.Collections;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/** Maps an ONNX op type to its gradient rule; {@link #standard()} holds every rule of the engine. */
public final class GradientRegistry {
  private final Map<String, GradientRule> rules = new TreeMap<>();

  public GradientRegistry register(String opType, GradientRule rule) {
    rules.put(opType, rule);
    return this;
  }

  public Optional<GradientRule> rule(String opType) {
    return Optional.ofNullable(rules.get(opType));
  }

  public Map<String, GradientRule> rules() {
    return Collections.unmodifiableMap(rules);
  }

  /** All rules: elementwise, activations, matrix, convolution and pooling, shape and reduction ops. */
  public static GradientRegistry standard() {
    GradientRegistry r = new GradientRegistry();
    ElementwiseRules.register(r);
    ActivationRules.register(r);
    MatrixRules.register(r);
    ConvRules.register(r);
    ShapeRules.register(r);
    NormalizationRules.register(r);
    return r;
  }
}
