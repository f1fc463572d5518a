package io.wattlab.trainer.compress;

import ai.onnx.proto.OnnxMl.ModelProto;
import java.util.Map;

/** Technique {@code none}: the model as it is, so that baselines run the same code path. */
final class NoCompression implements CompressionPass {

  private final PassParameters parameters;

  NoCompression(PassParameters parameters) {
    this.parameters = parameters;
  }

  @Override
  public String technique() {
    return Techniques.NONE;
  }

  @Override
  public PassParameters parameters() {
    return parameters;
  }

  @Override
  public Compressed apply(ModelProto model) {
    return Compressed.of(model, Map.of());
  }
}
