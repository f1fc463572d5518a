package io.wattlab.trainer.run;

import com.google.protobuf.Timestamp;
import io.micronaut.context.annotation.Replaces;
import io.micronaut.context.annotation.Requires;
import io.wattlab.proto.v1.DatasetSpec;
import io.wattlab.proto.v1.DomainEnergy;
import io.wattlab.proto.v1.EnergySummary;
import io.wattlab.proto.v1.EpochReport;
import io.wattlab.proto.v1.ModelFacts;
import io.wattlab.proto.v1.ModelSpec;
import io.wattlab.proto.v1.PhaseChange;
import io.wattlab.proto.v1.PhaseReport;
import io.wattlab.proto.v1.RunReport;
import io.wattlab.proto.v1.RunSpec;
import jakarta.inject.Singleton;

import java.time.Instant;
import java.util.Map;

/**
 * A stand-in for the real executor, for testing the service around it: it walks the phases
 * (load, compress, train per epoch, evaluate) in timed steps, reports a made-up constant power,
 * honours the cancel signal at every step and fails where asked. The spec's dataset options
 * script it:
 * <ul>
 * <li>{@code script.step-millis} (20): how long one step takes</li>
 * <li>{@code script.steps} (3): training steps per epoch</li>
 * <li>{@code script.fail-epoch} (none): the epoch whose second step fails, as a NaN loss would</li>
 * <li>{@code script.watts} (50): the power the run draws</li>
 * </ul>
 * In a service it replaces the real executor where {@code wattlab.trainer.executor=scripted}.
 */
@Singleton
@Replaces(RunExecutor.class)
@Requires(property = "wattlab.trainer.executor", value = "scripted")
public class ScriptedExecutor implements RunExecutor {

    public static final double IDLE_WATTS = 10;
    public static final ModelFacts MODEL = ModelFacts.newBuilder()
            .setParameters(272_474).setNonzeroParameters(272_474).setMacs(40_813_184).setBytes(1_089_896).build();

    /**
     * A valid spec for this executor: a built-in model on the synthetic set, {@code epochs} epochs of
     * three steps of {@code stepMillis} each.
     */
    public static RunSpec.Builder spec(int epochs, long stepMillis) {
        return RunSpec.newBuilder()
                .setModel(ModelSpec.newBuilder().setBuiltin("resnet-cifar"))
                .setDataset(DatasetSpec.newBuilder().setFormat("synthetic")
                        .putOptions("classes", "10")
                        .putOptions("script.step-millis", Long.toString(stepMillis)))
                .setEpochs(epochs)
                .setIdleSeconds(0);
    }

    /** {@code spec} with one more script option, such as {@code script.fail-epoch}. */
    public static RunSpec.Builder scripted(RunSpec.Builder spec, String option, String value) {
        spec.getDatasetBuilder().putOptions(option, value);
        return spec;
    }

    @Override
    public RunReport execute(String runId, RunSpec spec, RunListener listener, CancelSignal cancel)
            throws RunFailedException, RunCancelledException {
        return new Script(spec, listener, cancel).play();
    }

    /** One run's walk through its phases. */
    private static final class Script {

        private final RunSpec spec;
        private final RunListener listener;
        private final CancelSignal cancel;
        private final long stepMillis;
        private final int steps;
        private final int failEpoch;
        private final double watts;
        private final long startNanos = System.nanoTime();
        private final RunReport.Builder report = RunReport.newBuilder().setIdlePowerWatts(IDLE_WATTS)
                .setModelBefore(MODEL).setModelAfter(MODEL);
        private String phase = "";
        private int epoch;
        private int step;

        Script(RunSpec spec, RunListener listener, CancelSignal cancel) {
            Map<String, String> options = spec.getDataset().getOptionsMap();
            this.spec = spec;
            this.listener = listener;
            this.cancel = cancel;
            this.stepMillis = Long.parseLong(options.getOrDefault("script.step-millis", "20"));
            this.steps = Integer.parseInt(options.getOrDefault("script.steps", "3"));
            this.failEpoch = Integer.parseInt(options.getOrDefault("script.fail-epoch", "0"));
            this.watts = Double.parseDouble(options.getOrDefault("script.watts", "50"));
        }

        RunReport play() throws RunFailedException, RunCancelledException {
            phase("load", 0, 1);
            phase("compress", 0, 0);
            for (epoch = 1; epoch <= spec.getEpochs(); epoch++) {
                double seconds = phase("train", epoch, steps);
                double loss = 2.0 / epoch;
                EpochReport done = EpochReport.newBuilder()
                        .setEpoch(epoch).setTrainLoss(loss).setEvalLoss(loss * 1.1)
                        .setLearningRate(spec.getLearningRate())
                        .setTop1(top1(epoch)).setTop5(Math.min(1, top1(epoch) + 0.2)).setMacroF1(top1(epoch) - 0.01)
                        .setSeconds(seconds).setEnergyJoules(watts * seconds)
                        .setSamples((long) steps * spec.getBatchSize())
                        .build();
                report.addEpochs(done);
                listener.epoch(done);
                listener.partial(complete());
            }
            epoch = 0;
            phase("evaluate", 0, 1);
            return complete();
        }

        private static double top1(int epoch) {
            return Math.min(0.99, 0.5 + 0.15 * epoch);
        }

        /** Runs one phase of {@code count} steps and adds its report; returns its seconds. */
        private double phase(String name, int phaseEpoch, int count) throws RunFailedException, RunCancelledException {
            phase = name;
            Instant start = Instant.now();
            long phaseStart = System.nanoTime();
            listener.phase(PhaseChange.newBuilder().setPhase(name).setEpoch(phaseEpoch).setStarted(true).build());
            for (step = 1; step <= count; step++) {
                if (cancel.isRaised()) {
                    throw new RunCancelledException("cancelled by CancelRun at " + where(), complete());
                }
                sleep(stepMillis);
                if (name.equals("train") && epoch == failEpoch && step == 2) {
                    throw new RunFailedException("train loss is NaN at " + where(), complete(), null);
                }
                listener.energy(energy(seconds(startNanos)));
            }
            double seconds = seconds(phaseStart);
            report.addPhases(PhaseReport.newBuilder().setPhase(name).setEpoch(phaseEpoch)
                    .setStart(timestamp(start)).setEnd(timestamp(Instant.now())).setEnergy(energy(seconds)));
            listener.phase(PhaseChange.newBuilder().setPhase(name).setEpoch(phaseEpoch).setStarted(false).build());
            return seconds;
        }

        private String where() {
            return "phase " + phase + (epoch > 0 ? ", epoch " + epoch : "") + ", step " + step;
        }

        private RunReport complete() {
            double seconds = seconds(startNanos);
            EnergySummary energy = energy(seconds);
            double top1 = report.getEpochsCount() == 0 ? 0 : report.getEpochs(report.getEpochsCount() - 1).getTop1();
            long samples = report.getEpochsList().stream().mapToLong(EpochReport::getSamples).sum();
            return report.clone()
                    .setDurationSeconds(seconds)
                    .setEnergy(energy)
                    .setTop1(top1).setTop5(Math.min(1, top1 + 0.2)).setMacroF1(Math.max(0, top1 - 0.01))
                    .setEfficiencyTop1PerKwh(energy.getNetEnergyKwh() > 0 ? top1 / energy.getNetEnergyKwh() : 0)
                    .setEnergyPerEpochJoules(report.getEpochsCount() == 0 ? 0
                            : energy.getEnergyJoules() / report.getEpochsCount())
                    .setEnergyPer1000SamplesJoules(samples == 0 ? 0 : energy.getEnergyJoules() * 1000 / samples)
                    .build();
        }

        private EnergySummary energy(double seconds) {
            double joules = watts * seconds;
            double net = (watts - IDLE_WATTS) * seconds;
            return EnergySummary.newBuilder()
                    .setDurationSeconds(seconds)
                    .setEnergyJoules(joules).setEnergyKwh(joules / 3.6e6)
                    .setNetEnergyJoules(net).setNetEnergyKwh(net / 3.6e6)
                    .setMeanPowerWatts(watts).setPeakPowerWatts(watts)
                    .setMeasuredFraction(0)
                    .addDomains(DomainEnergy.newBuilder().setDomain("cpu").setDevice("0").setSensor("script")
                            .setSource("estimated").setEnergyJoules(joules).setEnergyKwh(joules / 3.6e6)
                            .setCountedInTotal(true))
                    .build();
        }

        private static double seconds(long sinceNanos) {
            return (System.nanoTime() - sinceNanos) / 1e9;
        }

        private static void sleep(long millis) throws RunCancelledException {
            try {
                Thread.sleep(millis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new RunCancelledException("interrupted", null);
            }
        }

        private static Timestamp timestamp(Instant instant) {
            return Timestamp.newBuilder().setSeconds(instant.getEpochSecond()).setNanos(instant.getNano()).build();
        }
    }
}
