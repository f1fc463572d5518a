package io.wattlab.trainer.execute;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The executor's configuration keys, as WATTLAB_TRAINER_* environment variables set them. */
class ExecutorSettingsTest {

  @Test
  void spinningIsOffByDefaultWhereTheThreadsTakeEveryProcessorAndSetByItsKeyOtherwise() {
    int processors = Runtime.getRuntime().availableProcessors();
    ExecutorSettings defaults = ExecutorSettings.from(TestModels.configuration(Map.of()));
    assertEquals(0, defaults.intraOpThreads());
    assertFalse(defaults.intraOpSpinning(), "ONNX Runtime's own thread count takes every core");
    assertFalse(ExecutorSettings.defaults().intraOpSpinning());
    assertFalse(ExecutorSettings.from(TestModels.configuration(Map.of(
        "wattlab.trainer.intra-op-threads", Integer.toString(processors)))).intraOpSpinning());
    if (processors > 1) {
      assertTrue(ExecutorSettings.from(TestModels.configuration(Map.of(
          "wattlab.trainer.intra-op-threads", Integer.toString(processors - 1)))).intraOpSpinning(),
          "a processor left free: ONNX Runtime's default");
    }

    ExecutorSettings set = ExecutorSettings.from(TestModels.configuration(Map.of(
        "wattlab.trainer.intra-op-threads", "2", "wattlab.trainer.intra-op-spinning", "true")));
    assertEquals(2, set.intraOpThreads());
    assertTrue(set.intraOpSpinning());
    ExecutorSettings off = ExecutorSettings.from(TestModels.configuration(Map.of(
        "wattlab.trainer.intra-op-threads", "1", "wattlab.trainer.intra-op-spinning", "false")));
    assertFalse(off.intraOpSpinning());
    assertFalse(off.withRunsDirectory(Path.of("runs")).intraOpSpinning(), "kept by the with-ers");
  }

  @Test
  void aSpinningValueThatIsNotABooleanNamesTheKey() {
    RuntimeException e = assertThrows(RuntimeException.class, () -> ExecutorSettings.from(TestModels.configuration(
        Map.of("wattlab.trainer.intra-op-spinning", "sometimes"))));
    assertTrue(e.getMessage().contains("wattlab.trainer.intra-op-spinning") && e.getMessage().contains("sometimes"),
        e.getMessage());
  }
}
