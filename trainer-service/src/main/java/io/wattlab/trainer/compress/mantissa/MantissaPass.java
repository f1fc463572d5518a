package io.wattlab.trainer.compress.mantissa;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.compress.CompressionPass;
import io.wattlab.trainer.compress.Compressed;
import io.wattlab.trainer.compress.PassParameters;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.train.ParameterConstraint;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Technique {@code mantissa}: zeroes the {@code bits} low-order mantissa bits of every learned
 * float32 weight ({@link LearnedWeights}) and keeps them zero after every optimizer step, so that
 * the trained model has no room left in them to hide data (steganographic capacity reduction).
 * {@code bits = 0} leaves the model as it is.
 */
public final class MantissaPass implements CompressionPass {

  public static final String TECHNIQUE = "mantissa";

  /**
   * Clearing truncates towards zero, and the constraint does so after every step: an update that
   * does not reach the next representable value is lost, and one towards zero costs a whole step of
   * the kept precision. At 8 bits that step is 2^-15 (3e-5) of a weight's magnitude, below typical
   * SGD updates; at 16 bits (bfloat16's significand) it is 2^-7, larger than most, and the pull
   * towards zero costs accuracy (docs/compression/mantissa.md has a measurement). 8 is the largest
   * round figure well clear of that.
   */
  public static final int DEFAULT_BITS = 8;

  private final PassParameters parameters;
  private final int bits;

  public MantissaPass(PassParameters parameters) {
    this.parameters = parameters;
    this.bits = parameters.integer("bits", DEFAULT_BITS, 0, MantissaBits.MANTISSA_BITS);
  }

  @Override
  public String technique() {
    return TECHNIQUE;
  }

  @Override
  public PassParameters parameters() {
    return parameters;
  }

  public int bits() {
    return bits;
  }

  @Override
  public Compressed apply(ModelProto model) {
    LearnedWeights weights = LearnedWeights.of(model.getGraph());
    Set<String> targets = weights.tensors();
    long values = 0;
    long changed = 0;
    GraphProto.Builder graph = model.getGraph().toBuilder();
    if (bits > 0) {
      for (int i = 0; i < graph.getInitializerCount(); i++) {
        TensorProto t = graph.getInitializer(i);
        if (!targets.contains(t.getName())) {
          continue;
        }
        float[] v = Tensors.toFloats(t);
        for (int j = 0; j < v.length; j++) {
          float cleared = MantissaBits.clearLow(v[j], bits);
          if (Float.floatToRawIntBits(cleared) != Float.floatToRawIntBits(v[j])) {
            changed++;
          }
          v[j] = cleared;
        }
        values += v.length;
        graph.setInitializer(i, Tensors.floats(t.getName(), Tensors.dims(t), v).toBuilder()
            .setDocString(t.getDocString()).build());
      }
    } else {
      for (TensorProto t : graph.getInitializerList()) {
        if (targets.contains(t.getName())) {
          values += Tensors.numel(Tensors.dims(t));
        }
      }
    }
    Map<String, String> details = new LinkedHashMap<>();
    details.put("bits_cleared", Integer.toString(bits));
    details.put("significand_bits_kept", Integer.toString(MantissaBits.MANTISSA_BITS + 1 - bits));
    details.put("weight_tensors", Integer.toString(targets.size()));
    details.put("weight_values", Long.toString(values));
    details.put("values_changed", Long.toString(changed));
    if (bits == 0) {
      return Compressed.of(model, details);
    }
    ModelProto out = model.toBuilder().setGraph(graph).build();
    return new Compressed(out, details, List.of(new ClearLowBits(weights.allNames(), bits)));
  }

  /**
   * Clears the low mantissa bits of its parameters again after each optimizer step.
   *
   * @param parameters training names of the weights (Identity copies included)
   * @param bits low mantissa bits kept at zero
   */
  public record ClearLowBits(Set<String> parameters, int bits) implements ParameterConstraint {

    public ClearLowBits {
      parameters = Set.copyOf(parameters);
      MantissaBits.lowMask(bits);
    }

    @Override
    public void enforce(String parameter, FloatBuffer values) {
      int keep = ~MantissaBits.lowMask(bits);
      for (int i = 0; i < values.capacity(); i++) {
        values.put(i, Float.intBitsToFloat(Float.floatToRawIntBits(values.get(i)) & keep));
      }
    }
  }
}
