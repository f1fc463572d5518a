package io.wattlab.trainer.execute;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** The executor's configuration keys, as WATTLAB_TRAINER_* environment variables set them. */
class ExecutorSettingsTest {

  @Test
  void intraOpThreadsAndSpinningComeFromTheirKeysWithOnnxRuntimesDefaultsOtherwise() {
    ExecutorSettings defaults = ExecutorSettings.from(TestModels.configuration(Map.of()));
    assertEquals(0, defaults.intraOpThreads());
    assertTrue(defaults.intraOpSpinning());

    ExecutorSettings set = ExecutorSettings.from(TestModels.configuration(Map.of(
        "wattlab.trainer.intra-op-threads", "2", "wattlab.trainer.intra-op-spinning", "false")));
    assertEquals(2, set.intraOpThreads());
    assertFalse(set.intraOpSpinning());
    assertFalse(set.withRunsDirectory(java.nio.file.Path.of("runs")).intraOpSpinning(), "kept by the with-ers");
  }

  @Test
  void aSpinningValueThatIsNotABooleanNamesTheKey() {
    RuntimeException e = assertThrows(RuntimeException.class, () -> ExecutorSettings.from(TestModels.configuration(
        Map.of("wattlab.trainer.intra-op-spinning", "sometimes"))));
    assertTrue(e.getMessage().contains("wattlab.trainer.intra-op-spinning") && e.getMessage().contains("sometimes"),
        e.getMessage());
  }
}
