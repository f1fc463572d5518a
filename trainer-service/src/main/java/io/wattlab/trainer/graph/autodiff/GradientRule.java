package io.wattlab.trainer.graph.autodiff;

/**
 * The backward of one op type: reads I(i), O(i) and GO(i) from the context and emits standard
 * ONNX nodes that produce GI(i) for every input that needs a gradient.
 */
@FunctionalInterface
public interface GradientRule {
  void build(GradientContext g);
}
