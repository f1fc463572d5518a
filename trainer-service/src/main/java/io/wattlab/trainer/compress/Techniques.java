package io.wattlab.trainer.compress;

import io.wattlab.trainer.compress.distill.DistillationPass;
import io.wattlab.trainer.compress.lowrank.LowRankPass;
import io.wattlab.trainer.compress.mantissa.MantissaPass;
import io.wattlab.trainer.compress.precision.PrecisionPass;
import io.wattlab.trainer.compress.prune.MagnitudePruning;
import io.wattlab.trainer.compress.quantize.QuantizePass;
import io.wattlab.trainer.compress.structured.StructuredPruning;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * The techniques {@code spec.compression.technique} may name, each with the factory that reads
 * its parameters. Adding a technique is adding its pass and one entry here.
 */
public final class Techniques {

  public static final String NONE = "none";

  private static final Map<String, Function<PassParameters, CompressionPass>> FACTORIES = factories();

  private Techniques() {}

  private static Map<String, Function<PassParameters, CompressionPass>> factories() {
    Map<String, Function<PassParameters, CompressionPass>> m = new LinkedHashMap<>();
    m.put(NONE, NoCompression::new);
    m.put("prune", MagnitudePruning::new);
    m.put("prune_structured", StructuredPruning::new);
    m.put(LowRankPass.TECHNIQUE, LowRankPass::new);
    m.put(MantissaPass.TECHNIQUE, MantissaPass::new);
    m.put(PrecisionPass.TECHNIQUE, PrecisionPass::new);
    m.put(QuantizePass.TECHNIQUE, QuantizePass::new);
    m.put(DistillationPass.TECHNIQUE, DistillationPass::new);
    return Map.copyOf(m);
  }

  /** Known technique names, in the order the docs list them. */
  public static List<String> names() {
    return FACTORIES.keySet().stream().sorted((a, b) -> a.equals(NONE) ? -1 : b.equals(NONE) ? 1 : a.compareTo(b))
        .toList();
  }

  /**
   * Makes the pass a spec asks for, checking every parameter.
   *
   * @throws InvalidCompressionException naming {@code technique} or {@code parameters.KEY}
   */
  public static CompressionPass create(String technique, Map<String, String> parameters) {
    return create(technique, new PassParameters(parameters));
  }

  /**
   * As {@link #create(String, Map)}, for parameters already read into a {@link PassParameters},
   * such as a nested technique's ({@link PassParameters#nested}).
   */
  public static CompressionPass create(String technique, PassParameters p) {
    String name = technique == null || technique.isBlank() ? NONE : technique.strip().toLowerCase(Locale.ROOT);
    Function<PassParameters, CompressionPass> factory = FACTORIES.get(name);
    if (factory == null) {
      throw new InvalidCompressionException("technique", "unknown technique '" + technique + "' (known: "
          + String.join(", ", names()) + ")");
    }
    CompressionPass pass = factory.apply(p);
    p.rejectUnread();
    return pass;
  }
}
