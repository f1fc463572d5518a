package io.wattlab.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The trainer keeps a constraint through optimizer steps, and lets a schedule tighten it per epoch. */
class ParameterConstraintTest {

  /** Zeroes the first {@code count} values of one parameter; count grows by one per epoch. */
  private static final class ZeroPrefix implements ParameterConstraint {
    final String name;
    int count;
    final List<Integer> epochsSeen = new ArrayList<>();

    ZeroPrefix(String name, int count) {
      this.name = name;
      this.count = count;
    }

    @Override
    public Set<String> parameters() {
      return Set.of(name, "not.a.trained.parameter");
    }

    @Override
    public void enforce(String parameter, FloatBuffer values) {
      for (int i = 0; i < count; i++) {
        values.put(i, 0f);
      }
    }

    @Override
    public void beginEpoch(int epoch, int epochs, Map<String, FloatBuffer> values) {
      epochsSeen.add(epoch);
      assertEquals(Set.of(name), values.keySet(), "only trained parameters are handed over");
      count++;
    }
  }

  @Test
  void constrainedValuesStayPutWhileTheRestTrains() throws Exception {
    Reference ref = Reference.of("tiny", "--batch", "4", "--size", "16", "--steps", "20", "--lr", "0.05");
    ForwardModel forward = ForwardModel.prepare(ref.model(), 4);
    ZeroPrefix constraint = new ZeroPrefix("0.weight", 5);
    try (Trainer t = new Trainer(TrainStepBuilder.build(forward, TrainConfig.sgd(4, 0.9)), ExecutionConfig.cpu(1))) {
      float[] before = t.value("0.weight");
      t.constrain(List.of(constraint));
      for (int epoch = 1; epoch <= 2; epoch++) {
        t.beginEpoch(epoch, 2);
        for (int s = 0; s < 3; s++) {
          t.step(ref.input(), ref.labels, 0.05f);
        }
      }
      float[] after = t.value("0.weight");
      for (int i = 0; i < 7; i++) {
        assertEquals(0f, after[i], "value " + i + " is held at zero through momentum steps");
      }
      assertNotEquals(before[7], after[7], "an unconstrained value of the same tensor trains");
      assertEquals(List.of(1, 2), constraint.epochsSeen);
    }
  }
}
