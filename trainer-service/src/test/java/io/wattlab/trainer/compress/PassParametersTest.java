package io.wattlab.trainer.compress;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.junit.jupiter.api.Test;

class PassParametersTest {

  @Test
  void readsTypedValuesAndRecordsDefaults() {
    PassParameters p = new PassParameters(Map.of("sparsity", " 0.5 ", "scope", "GLOBAL"));
    assertEquals(0.5, p.number("sparsity", 0, 0, 1));
    assertEquals("global", p.choice("scope", "layer", "global"));
    assertEquals(3, p.integer("epochs", 3, 1, 100));
    p.rejectUnread();
    assertEquals(Map.of("sparsity", "0.5", "scope", "global", "epochs", "3"), p.asMap());
    assertEquals("epochs=3,scope=global,sparsity=0.5", p.canonical());
  }

  @Test
  void aBadValueNamesItsKeyAndTheRange() {
    PassParameters p = new PassParameters(Map.of("sparsity", "1.5", "bits", "x"));
    InvalidCompressionException range = assertThrows(InvalidCompressionException.class,
        () -> p.number("sparsity", 0, 0, 0.99));
    assertEquals("parameters.sparsity: 1.5 is outside [0, 0.99]", range.getMessage());
    InvalidCompressionException word = assertThrows(InvalidCompressionException.class, () -> p.integer("bits", 0, 0, 23));
    assertEquals("parameters.bits", word.field());
    assertEquals("'x' is not a whole number", word.problem());
  }

  @Test
  void aMisspelledKeyIsRejectedRatherThanIgnored() {
    InvalidCompressionException e = assertThrows(InvalidCompressionException.class,
        () -> Techniques.create("none", Map.of("sparisty", "0.5")));
    assertEquals("parameters.sparisty: unknown parameter", e.getMessage());
  }

  @Test
  void anUnknownTechniqueListsTheKnownOnes() {
    InvalidCompressionException e = assertThrows(InvalidCompressionException.class,
        () -> Techniques.create("zip", Map.of()));
    assertEquals("technique", e.field());
    assertEquals("unknown technique 'zip' (known: " + String.join(", ", Techniques.names()) + ")", e.problem());
  }
}
