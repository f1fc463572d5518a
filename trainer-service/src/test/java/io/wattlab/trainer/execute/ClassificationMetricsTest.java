package io.wattlab.trainer.execute;

import io.wattlab.proto.v1.ScheduleSpec;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Metrics and schedules against figures worked out by hand. */
class ClassificationMetricsTest {

    @Test
    void topOneTopKMacroF1AndLossOfAHandWorkedBatch() {
        // 3 classes, so top-k is top-3: always right. Predictions 0, 1, 1, 2 for labels 0, 1, 2, 2.
        ClassificationMetrics m = new ClassificationMetrics(3);
        m.add(new float[] {
                2, 0, 0,
                0, 2, 0,
                0, 2, 1,
                0, 0, 2}, new long[] {0, 1, 2, 2}, 4);
        ClassificationMetrics.Result r = m.result();
        assertEquals(4, r.samples());
        assertEquals(0.75, r.top1(), 1e-12);
        assertEquals(1.0, r.top5(), 1e-12);
        // F1: class 0 = 1, class 1 = 2·1/(2+1) = 2/3, class 2 = 2·1/(1+2) = 2/3.
        assertEquals((1 + 2.0 / 3 + 2.0 / 3) / 3, r.macroF1(), 1e-12);
        double lse = Math.log(Math.exp(2) + 2);
        double loss = ((lse - 2) * 3 + (Math.log(Math.exp(0) + Math.exp(2) + Math.exp(1)) - 1)) / 4;
        assertEquals(loss, r.loss(), 1e-6);
    }

    @Test
    void topFiveCountsTiesAgainstTheLabel() {
        ClassificationMetrics m = new ClassificationMetrics(10);
        m.add(new float[10], new long[] {3}, 1);
        assertEquals(0, m.result().top5(), "a constant output is not top-5 correct");
        ClassificationMetrics ranked = new ClassificationMetrics(10);
        ranked.add(new float[] {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, new long[] {4}, 1);
        assertEquals(1, ranked.result().top5());
        assertEquals(0, ranked.result().top1());
    }

    @Test
    void schedulesGiveTheRateOfEachEpoch() {
        LearningRateSchedule cosine = LearningRateSchedule.of(ScheduleSpec.newBuilder().setKind("cosine")
                .setMinLearningRate(0.001).build(), 0.1, 3);
        assertEquals(0.1, cosine.rate(1), 1e-12);
        assertEquals(0.0505, cosine.rate(2), 1e-12);
        assertEquals(0.001, cosine.rate(3), 1e-12);
        LearningRateSchedule step = LearningRateSchedule.of(ScheduleSpec.newBuilder().setKind("step")
                .setStepEpochs(2).setGamma(0.5).build(), 0.1, 5);
        assertEquals(0.1, step.rate(2), 1e-12);
        assertEquals(0.05, step.rate(3), 1e-12);
        assertEquals(0.025, step.rate(5), 1e-12);
        assertEquals(0.1, LearningRateSchedule.of(ScheduleSpec.getDefaultInstance(), 0.1, 4).rate(4), 1e-12);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LearningRateSchedule.of(ScheduleSpec.newBuilder().setKind("linear").build(), 0.1, 2));
        assertEquals("schedule.kind 'linear' is not constant, step or cosine", e.getMessage());
    }
}
