package io.wattlab.trainer.compress;

/**
 * A pass whose model is for inference only and cannot be trained (int8 quantization): a run with
 * it does not train, and its evaluate phase measures the model as loaded against the compressed
 * one, each in its own meter window on the same test images.
 */
public interface InferenceOnlyPass extends CompressionPass {

  /** The name of the compressed variant in reports and run events, e.g. {@code int8}. */
  String variant();

  /**
   * How many times each variant's evaluate window runs over the test images, so that a small test
   * split still gives a window long enough for the meter's sampling.
   */
  int evaluationPasses();
}
