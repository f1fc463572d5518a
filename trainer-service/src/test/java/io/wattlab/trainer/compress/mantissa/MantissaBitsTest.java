package io.wattlab.trainer.compress.mantissa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class MantissaBitsTest {

  @Test
  void clearingTruncatesTowardsZeroKeepingSignAndExponent() {
    // pi = 0x40490FDB; its top 7 mantissa bits (bfloat16's) are 0x40490000 = 3.140625.
    assertEquals(0x40490000, Float.floatToRawIntBits(MantissaBits.clearLow((float) Math.PI, 16)));
    assertEquals(3.140625f, MantissaBits.clearLow((float) Math.PI, 16));
    assertEquals(-3.140625f, MantissaBits.clearLow((float) -Math.PI, 16));
    // All 23 bits: the power of two at or below the magnitude.
    assertEquals(2f, MantissaBits.clearLow((float) Math.PI, 23));
    assertEquals(-0.5f, MantissaBits.clearLow(-0.9f, 23));
    assertEquals(0x3F8CCCC0, Float.floatToRawIntBits(MantissaBits.clearLow(1.1f, 4)), "1.1f is 0x3F8CCCCD");
    assertEquals(1.1f, MantissaBits.clearLow(1.1f, 0));
    assertTrue(MantissaBits.lowBitsClear(MantissaBits.clearLow(1.1f, 9), 9));
    assertFalse(MantissaBits.lowBitsClear(1.1f, 1), "0x...CD ends in a 1");
  }

  @Test
  void overwritingReplacesOnlyTheLowBits() {
    assertEquals(0x3F8CCCC5, Float.floatToRawIntBits(MantissaBits.overwriteLow(1.1f, 4, 0xFFFFFFF5)));
    assertEquals(0x3F800000 | 0x7FFFFF, Float.floatToRawIntBits(MantissaBits.overwriteLow(1f, 23, -1)),
        "sign and exponent untouched even when the word has them set");
    assertEquals(1.1f, MantissaBits.overwriteLow(1.1f, 0, -1));
    assertThrows(IllegalArgumentException.class, () -> MantissaBits.lowMask(24));
    assertThrows(IllegalArgumentException.class, () -> MantissaBits.lowMask(-1));
  }
}
