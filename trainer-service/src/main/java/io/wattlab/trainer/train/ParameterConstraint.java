package io.wattlab.trainer.train;

import java.nio.FloatBuffer;
import java.util.Map;
import java.util.Set;

/**
 * A property of some parameters that training must keep: pruned weights stay zero, low mantissa
 * bits stay clear. The {@link Trainer} re-imposes it on the updated values after every optimizer
 * step, in place, so the exported model has it exactly. (A K-step graph imposes it once per K
 * steps; the run executor trains step by step.)
 */
public interface ParameterConstraint {

  /** The parameters it applies to, by initializer name. */
  Set<String> parameters();

  /** Re-imposes the constraint on one parameter's current values (all of the buffer, index 0 on). */
  void enforce(String parameter, FloatBuffer values);

  /**
   * Called before each training epoch (1-based, of {@code epochs}) with the current values of its
   * parameters; a schedule such as gradual pruning tightens itself here. The default does nothing.
   */
  default void beginEpoch(int epoch, int epochs, Map<String, FloatBuffer> values) {}
}
