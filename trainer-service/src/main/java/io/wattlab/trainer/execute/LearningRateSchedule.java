package io.wattlab.trainer.execute;

import io.wattlab.proto.v1.ScheduleSpec;

/**
 * The learning rate of each epoch: constant; step (× gamma every {@code step_epochs} epochs);
 * cosine (from the base rate at the first epoch to {@code min_learning_rate} at the last).
 */
public record LearningRateSchedule(String kind, double baseRate, int epochs, int stepEpochs, double gamma,
                                   double minRate) {

    public static LearningRateSchedule of(ScheduleSpec spec, double baseRate, int epochs) {
        String kind = spec.getKind().isBlank() ? "constant" : spec.getKind().strip().toLowerCase(java.util.Locale.ROOT);
        if (!kind.equals("constant") && !kind.equals("step") && !kind.equals("cosine")) {
            throw new IllegalArgumentException("schedule.kind '" + spec.getKind() + "' is not constant, step or cosine");
        }
        return new LearningRateSchedule(kind, baseRate, epochs, Math.max(1, spec.getStepEpochs()),
                spec.getGamma() == 0 ? 0.1 : spec.getGamma(), spec.getMinLearningRate());
    }

    /** The rate of epoch {@code epoch}, counted from 1. */
    public double rate(int epoch) {
        int e = epoch - 1;
        return switch (kind) {
            case "step" -> baseRate * Math.pow(gamma, e / stepEpochs);
            case "cosine" -> epochs <= 1 ? baseRate
                    : minRate + (baseRate - minRate) * (1 + Math.cos(Math.PI * e / (epochs - 1))) / 2;
            default -> baseRate;
        };
    }
}
