package io.wattlab.trainer.compress;

import ai.onnx.proto.OnnxMl.ModelProto;

/**
 * One compression technique as a graph pass: an inference model in, the compressed model out,
 * with what the pass did and what training must keep true afterwards. A pass never runs the
 * model and never reads or writes files; its parameters were checked when it was created.
 */
public interface CompressionPass {

  /** The technique's name as {@code StartRun} spells it, e.g. {@code prune}. */
  String technique();

  /** The parameters it was made with, defaults filled in, as they go into reports and tags. */
  PassParameters parameters();

  /**
   * Rewrites a model. A strength of zero (sparsity 0, rank ratio 1, 0 bits) returns a model
   * whose outputs equal the input model's.
   *
   * @throws CompressionException naming the node or tensor the pass cannot handle
   */
  Compressed apply(ModelProto model);

  /**
   * This pass as it runs on {@code device} ({@code cpu} or {@code cuda:N}); most passes do not
   * depend on it and return themselves. A pass that computes differently per device (precision)
   * decides here, so that a spec asking for what its device cannot run fails validation.
   *
   * @throws InvalidCompressionException naming the parameter that the device cannot honour
   */
  default CompressionPass on(String device) {
    return this;
  }
}
