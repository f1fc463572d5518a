package io.wattlab.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wattlab.trainer.onnx.Tensors;
import org.junit.jupiter.api.Test;

/** GradScaler's schedule: halve on overflow, double after growth_interval good steps in a row. */
class LossScalerTest {

  @Test
  void halvesOnOverflowAndDoublesAfterTheGrowthIntervalOfGoodSteps() {
    LossScaler s = new LossScaler(MixedPrecision.fp16().withGrowthInterval(3));
    assertEquals(65536f, s.scale(), "torch.cuda.amp.GradScaler's init_scale 2^16");
    s.update(true);
    assertTrue(s.lastStepSkipped());
    assertEquals(32768f, s.scale());
    s.update(false);
    s.update(false);
    assertFalse(s.lastStepSkipped());
    assertEquals(32768f, s.scale(), "two good steps of three");
    s.update(true);
    assertEquals(16384f, s.scale(), "an overflow restarts the count of good steps");
    s.update(false);
    s.update(false);
    assertEquals(16384f, s.scale());
    s.update(false);
    assertEquals(32768f, s.scale(), "three good steps in a row double it");
    assertEquals(7, s.steps());
    assertEquals(2, s.skippedSteps());
  }

  @Test
  void theScaleStaysAFinitePositiveFloat() {
    LossScaler big = new LossScaler(new MixedPrecision(Tensors.FLOAT16, 0x1p127, 1));
    big.update(false);
    assertEquals(0x1p127f, big.scale(), "doubling past float32's range keeps the scale");
    LossScaler small = new LossScaler(new MixedPrecision(Tensors.FLOAT16, 0x1p-148, 1000));
    for (int i = 0; i < 5; i++) {
      small.update(true);
    }
    assertEquals(Float.MIN_VALUE, small.scale());
    assertEquals("65536", LossScaler.text(65536));
    assertEquals("0.5", LossScaler.text(0.5));
    assertEquals("1099511627776", LossScaler.text(0x1p40));
  }

  @Test
  void mixedPrecisionIsFloat16OrBfloat16WithAPositiveScale() {
    assertThrows(IllegalArgumentException.class, () -> new MixedPrecision(Tensors.FLOAT, 1, 1));
    assertThrows(IllegalArgumentException.class, () -> new MixedPrecision(Tensors.FLOAT16, 0, 1));
    assertThrows(IllegalArgumentException.class, () -> new MixedPrecision(Tensors.BFLOAT16, 1, 0));
    assertEquals("bf16", new MixedPrecision(Tensors.BFLOAT16, 1, 1).word());
  }
}
