package io.wattlab.trainer.execute;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.Timestamp;
import io.wattlab.proto.v1.CarbonReport;
import io.wattlab.proto.v1.EnergySummary;
import io.wattlab.proto.v1.EpochReport;
import io.wattlab.proto.v1.ModelFacts;
import io.wattlab.proto.v1.OptimizerSpec;
import io.wattlab.proto.v1.PhaseChange;
import io.wattlab.proto.v1.PhaseReport;
import io.wattlab.proto.v1.RunReport;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.proto.v1.TrainableSpec;
import io.wattlab.proto.v1.WindowEnergy;
import io.wattlab.trainer.compress.ActivationRanges;
import io.wattlab.trainer.compress.CalibratedPass;
import io.wattlab.trainer.compress.CompressionException;
import io.wattlab.trainer.compress.CompressionPass;
import io.wattlab.trainer.compress.InferenceOnlyPass;
import io.wattlab.trainer.compress.InvalidCompressionException;
import io.wattlab.trainer.compress.PassReport;
import io.wattlab.trainer.compress.Techniques;
import io.wattlab.trainer.compress.distill.DistillationPass;
import io.wattlab.trainer.compress.distill.Teacher;
import io.wattlab.trainer.compress.precision.PrecisionPass;
import io.wattlab.trainer.compress.quantize.RangeCollector;
import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetException;
import io.wattlab.trainer.data.DatasetMismatchException;
import io.wattlab.trainer.data.DatasetSpec;
import io.wattlab.trainer.data.Datasets;
import io.wattlab.trainer.data.Split;
import io.wattlab.trainer.data.batch.Batch;
import io.wattlab.trainer.data.batch.BatchIterator;
import io.wattlab.trainer.data.batch.BatchLoader;
import io.wattlab.trainer.data.transform.ImageTransform;
import io.wattlab.trainer.data.transform.Normalize;
import io.wattlab.trainer.data.transform.RandomCrop;
import io.wattlab.trainer.data.transform.RandomHorizontalFlip;
import io.wattlab.trainer.data.transform.Resize;
import io.wattlab.trainer.data.transform.Transforms;
import io.wattlab.trainer.metering.EnergyMeter;
import io.wattlab.trainer.metering.EnergySummaries;
import io.wattlab.trainer.onnx.OnnxModels;
import io.wattlab.trainer.run.CancelSignal;
import io.wattlab.trainer.run.RunCancelledException;
import io.wattlab.trainer.run.RunFailedException;
import io.wattlab.trainer.run.RunListener;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.ForwardModel;
import io.wattlab.trainer.train.LossScaler;
import io.wattlab.trainer.train.MixedPrecision;
import io.wattlab.trainer.train.ModelExport;
import io.wattlab.trainer.train.Optimizer;
import io.wattlab.trainer.train.ParameterConstraint;
import io.wattlab.trainer.train.TrainConfig;
import io.wattlab.trainer.train.TrainStepBuilder;
import io.wattlab.trainer.train.Trainer;
import io.wattlab.trainer.train.TrainableSet;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * One run, from idle sampling to the exported model: the phases load, compress, train (one window
 * per epoch) and evaluate, each a meter window inside the run's window, reported to the listener
 * and to the run events as they end. Used once; {@link TrainingRunExecutor} makes one per run.
 *
 * <p>Efficiency is top-1 accuracy per net kWh (energy above idle), since idle draw is not what the
 * training cost; when the net energy is under 1 J the ratio says nothing and is reported as 0.
 * Energy per epoch and per 1,000 training samples are raw joules of the train phase.
 */
final class RunExecution {

    static final float[] IMAGENET_MEAN = {0.485f, 0.456f, 0.406f};
    static final float[] IMAGENET_STD = {0.229f, 0.224f, 0.225f};

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(RunExecution.class);

    /** Below this net energy, efficiency is not computed (1 J in kWh). */
    static final double MIN_EFFICIENCY_KWH = 1 / EnergySummaries.JOULES_PER_KWH;

    /** A run stopped on purpose or by an error; the message is the run's error. */
    private static final class Stop extends Exception {
        final boolean cancelled;

        Stop(String message, boolean cancelled, Throwable cause) {
            super(message, cause);
            this.cancelled = cancelled;
        }
    }

    /** A phase being metered; variant names the model of an evaluate-only comparison ("" otherwise). */
    private record OpenPhase(String name, int epoch, String variant, EnergyMeter.Window window) {
    }

    private final String runId;
    private final RunSpec spec;
    private final RunListener listener;
    private final CancelSignal cancel;
    private final EnergyMeter meter;
    private final ModelSource models;
    private final CarbonIntensities carbon;
    private final ModelFactsProvider facts;
    private final ExecutorSettings settings;
    private final RunEvents events;

    private final List<PhaseReport> phases = new ArrayList<>();
    private final List<EnergySummary> phaseEnergy = new ArrayList<>();
    private final List<EpochReport> epochs = new ArrayList<>();
    private final RunReport.Builder report = RunReport.newBuilder();
    private double idleWatts;
    private EnergyMeter.Window runWindow;
    private OpenPhase open;
    private double trainJoules;
    private long trainSamples;

    // Set by the load phase.
    private Dataset dataset;
    private ForwardModel forward;
    private Trainer trainer;
    private Evaluator evaluator;
    private Teacher teacher;
    private Map<String, float[]> initialState;
    private ModelProto loaded;
    // Set by the compress phase of an evaluate-only run (an InferenceOnlyPass such as quantize).
    private InferenceComparison comparison;
    private int comparisonPasses;
    private ModelProto compressed;

    RunExecution(String runId, RunSpec spec, RunListener listener, CancelSignal cancel, EnergyMeter meter,
                 ModelSource models, CarbonIntensities carbon, ModelFactsProvider facts, ExecutorSettings settings,
                 RunEvents events) {
        this.runId = runId;
        this.spec = spec;
        this.listener = listener;
        this.cancel = cancel;
        this.meter = meter;
        this.models = models;
        this.carbon = carbon;
        this.facts = facts;
        this.settings = settings;
        this.events = events;
    }

    RunReport run() throws RunFailedException, RunCancelledException {
        double idleSeconds = spec.hasIdleSeconds() ? spec.getIdleSeconds() : 3;
        try {
            if (idleSeconds > 0) {
                idleWatts = meter.idlePowerWatts(Duration.ofMillis(Math.round(idleSeconds * 1000)));
            }
            report.setIdlePowerWatts(idleWatts);
            runWindow = meter.begin(Map.of("run_id", runId));
        } catch (RuntimeException e) {
            throw new RunFailedException("metering: " + e.getMessage(), report.build(), e);
        }
        Map<String, Object> start = new LinkedHashMap<>();
        start.put("state", "RUNNING");
        start.put("epochs", (long) epochs());
        start.put("batch_size", (long) batchSize());
        start.put("learning_rate", spec.getLearningRate());
        events.write("run", Map.of(), start, runWindow.startNanos());
        try {
            load();
            compress();
            if (comparison != null) {
                evaluateVariants();
            } else {
                train();
                evaluate();
            }
        } catch (Stop stop) {
            closeOpenPhase();
            RunReport partial = finish(stop.cancelled ? "CANCELLED" : "FAILED");
            if (stop.cancelled) {
                throw new RunCancelledException(stop.getMessage(), partial);
            }
            throw new RunFailedException(stop.getMessage(), partial, stop.getCause());
        } catch (RuntimeException e) {
            String where = open != null ? open.name() + (open.epoch() > 0 ? " (epoch " + open.epoch() + ")" : "") + ": "
                    : "";
            closeOpenPhase();
            RunReport partial = finish("FAILED");
            throw new RunFailedException(where + e.getMessage(), partial, e);
        } finally {
            if (trainer != null) {
                trainer.close();
            }
            if (evaluator != null) {
                evaluator.close();
            }
            if (teacher != null) {
                teacher.close();
            }
            if (comparison != null) {
                comparison.close();
            }
        }
        return finish("SUCCEEDED");
    }

    // ---- phases -------------------------------------------------------------------------------

    private void load() throws Stop {
        beginPhase("load", 0);
        try {
            io.wattlab.proto.v1.DatasetSpec d = spec.getDataset();
            dataset = Datasets.open(new DatasetSpec(d.getFormat(), d.getPath().isBlank() ? null : Path.of(d.getPath()),
                    d.getOptionsMap()));
        } catch (DatasetException e) {
            throw new Stop("load: " + e.getMessage(), false, e);
        }
        dataset.report().skipped().forEach(s -> report.addSkippedInputs(s.toString()));
        ModelProto model;
        try {
            model = models.load(spec.getModel(), dataset.numClasses(), dataset.storedShape());
        } catch (ModelSourceException e) {
            throw new Stop("load: " + e.getMessage(), false, e);
        }
        long[] inputDims = inputDims(model);
        long classes = classCount(model);
        dataset = dataset.withTransforms(transforms(inputDims));
        try {
            dataset.requireFits(inputDims, classes);
        } catch (DatasetMismatchException e) {
            throw new Stop("load: " + e.getMessage(), false, e);
        }
        int batch = batchSize();
        int trainImages = dataset.train().size();
        if (trainImages < batch) {
            throw new Stop("load: the training split of " + dataset.name() + " has " + trainImages
                    + " images, fewer than batch_size " + batch, false, null);
        }
        report.setModelBefore(facts.facts(model, dataset.imageShape()));
        // Checked here, before anything else runs, whether the engine can train the model; an
        // evaluate-only technique (quantize) never trains it, so its model need not be trainable.
        if (!evaluateOnly()) {
            forward = ForwardModel.prepare(model, batch);
        }
        loaded = model;
        endPhase();
    }

    /**
     * Runs the compression pass (none: the model as loaded), then builds the training and
     * evaluation graphs and sessions from the model it produced, so the phase holds everything
     * between the loaded model and the first training step; the pass's own time is
     * {@code pass_seconds} in the report's compression entries.
     */
    private void compress() throws Stop {
        beginPhase("compress", 0);
        ModelProto model = loaded;
        List<ParameterConstraint> constraints = List.of();
        ExecutionConfig execution = new ExecutionConfig(spec.getDevice().isBlank() ? "cpu" : spec.getDevice(),
                settings.intraOpThreads(), settings.intraOpSpinning());
        CompressionPass pass = pass(execution.device());
        if (!pass.technique().equals(Techniques.NONE)) {
            PassReport.Outcome outcome;
            long calibrationStart = System.nanoTime();
            try {
                CompressionPass ready = calibrated(pass, model, execution);
                double calibrationSeconds = (System.nanoTime() - calibrationStart) / 1e9;
                outcome = PassReport.run(ready, model);
                if (pass instanceof CalibratedPass) {
                    report.putCompression("calibration_seconds", String.format(Locale.ROOT, "%.3f", calibrationSeconds));
                }
            } catch (CompressionException | IllegalArgumentException e) {
                throw new Stop("compress: " + pass.technique() + ": " + e.getMessage(), false, e);
            }
            report.putAllCompression(outcome.report().toMap());
            model = outcome.compressed().model();
            constraints = outcome.compressed().constraints();
            if (classCount(model) != classCount(loaded)) {
                throw new Stop("compress: " + pass.technique() + " changed the model's output from "
                        + classCount(loaded) + " to " + classCount(model) + " classes", false, null);
            }
            if (pass instanceof InferenceOnlyPass inferenceOnly) {
                // Not trainable: no training graphs; the sessions of both models are opened here.
                compressed = model;
                comparisonPasses = inferenceOnly.evaluationPasses();
                report.putCompression("train_epochs_skipped", Integer.toString(epochs()));
                comparison = InferenceComparison.prepare(loaded, model, inferenceOnly.variant(), dataset.test(),
                        batchSize(), dataset.numClasses(), execution);
                endPhase();
                return;
            }
            forward = ForwardModel.prepare(model, batchSize());
        }
        int batch = batchSize();
        initialState = forward.initialState();
        TrainConfig config = new TrainConfig(batch, spec.getLabelSmoothing(), optimizer(), trainable(),
                spec.getClipGradNorm(), false);
        if (pass instanceof DistillationPass d) {
            config = config.withDistillation(d.loss());
            try {
                teacher = Teacher.open(Teacher.model(d.teacherPath(), loaded), d.teacherPath().isEmpty()
                        ? DistillationPass.RUN_MODEL : d.teacherPath(), forward, dataset.train().size(),
                        !dataset.train().augmented(), execution);
            } catch (CompressionException e) {
                throw new Stop("compress: distill: " + e.getMessage(), false, e);
            }
            report.putAllCompression(teacher.reportEntries());
        }
        MixedPrecision mixed = mixedPrecision(pass);
        if (mixed != null) {
            config = config.withMixedPrecision(mixed);
        }
        trainer = new Trainer(TrainStepBuilder.build(forward, config), execution);
        trainer.constrain(constraints);
        evaluator = new Evaluator(forward, batch, dataset.numClasses(), execution);
        endPhase();
    }

    /**
     * A calibrated pass gets the activation ranges it asks for, measured on the loaded model over
     * the training split (its transforms apply); any other pass is returned as it is.
     */
    private CompressionPass calibrated(CompressionPass pass, ModelProto model, ExecutionConfig execution) {
        if (!(pass instanceof CalibratedPass c)) {
            return pass;
        }
        java.util.Set<String> tensors = c.calibrationTensors(model);
        return c.calibrated(tensors.isEmpty() ? ActivationRanges.none() : RangeCollector.collect(model, tensors,
                dataset.train(), c.calibrationImages(), batchSize(), spec.getSeed(), c.calibrationPercentile(), execution));
    }

    private void train() throws Stop {
        LearningRateSchedule schedule = LearningRateSchedule.of(spec.getSchedule(), spec.getLearningRate(), epochs());
        boolean shuffle = !spec.hasShuffle() || spec.getShuffle();
        BatchLoader loader = new BatchLoader(dataset.train(), batchSize(), shuffle, true, spec.getSeed(), r -> {
            Thread t = new Thread(r, "run " + runId + " batches");
            t.setDaemon(true);
            return t;
        });
        for (int epoch = 1; epoch <= epochs(); epoch++) {
            beginPhase("train", epoch);
            trainer.beginEpoch(epoch, epochs());
            double rate = schedule.rate(epoch);
            double lossSum = 0;
            int steps = 0;
            try (BatchIterator batches = loader.epoch(epoch - 1)) {
                while (batches.hasNext()) {
                    if (cancel.isRaised()) {
                        throw new Stop("cancelled at epoch " + epoch + " after step " + steps + " of "
                                + batches.batches(), true, null);
                    }
                    Batch b = batches.next();
                    // The teacher's forward passes are part of the train phase's time and energy.
                    float loss = teacher == null ? trainer.step(b.images(), b.labels(), (float) rate)
                            : trainer.step(b.images(), b.labels(), teacher.logits(b), (float) rate);
                    steps++;
                    if (!Float.isFinite(loss)) {
                        throw new Stop("loss became NaN at epoch " + epoch + ", step " + steps
                                + (Float.isNaN(loss) ? "" : " (it was " + loss + ")"), false, null);
                    }
                    lossSum += loss;
                }
            }
            ClassificationMetrics.Result eval = evaluator.evaluate(evalState(), dataset.test(),
                    settings.epochEvalImages());
            long samples = (long) steps * batchSize();
            if (teacher != null) {
                report.putAllCompression(teacher.reportEntries());
            }
            trainer.lossScaler().ifPresent(scaler -> {
                report.putCompression("skipped_steps", Long.toString(scaler.skippedSteps()));
                report.putCompression("final_loss_scale", LossScaler.text(scaler.scale()));
            });
            EnergySummary energy = endPhase();
            trainJoules += energy.getEnergyJoules();
            trainSamples += samples;
            EpochReport epochReport = EpochReport.newBuilder()
                    .setEpoch(epoch)
                    .setTrainLoss(steps == 0 ? 0 : lossSum / steps)
                    .setLearningRate(rate)
                    .setEvalLoss(eval.loss())
                    .setTop1(eval.top1())
                    .setTop5(eval.top5())
                    .setMacroF1(eval.macroF1())
                    .setSeconds(energy.getDurationSeconds())
                    .setEnergyJoules(energy.getEnergyJoules())
                    .setSamples(samples)
                    .build();
            epochs.add(epochReport);
            Map<String, Object> fields = new LinkedHashMap<>();
            fields.put("epoch", (long) epoch);
            fields.put("train_loss", epochReport.getTrainLoss());
            fields.put("eval_loss", eval.loss());
            fields.put("top1", eval.top1());
            fields.put("top5", eval.top5());
            fields.put("macro_f1", eval.macroF1());
            fields.put("learning_rate", rate);
            fields.put("seconds", energy.getDurationSeconds());
            fields.put("energy_joules", energy.getEnergyJoules());
            fields.put("samples", samples);
            events.write("run_epoch", Map.of(), fields, lastPhaseEndNanos());
            listener.epoch(epochReport);
            listener.partial(partialReport());
        }
    }

    private void evaluate() throws Stop {
        beginPhase("evaluate", 0);
        ClassificationMetrics.Result eval = evaluator.evaluate(evalState(), dataset.test(), 0);
        report.setTop1(eval.top1()).setTop5(eval.top5()).setMacroF1(eval.macroF1()).setEvalLoss(eval.loss());
        ModelProto trained = ModelExport.trainedModel(forward, trainer.state());
        Path file = settings.runsDirectory().resolve(runId).resolve("model.onnx");
        OnnxModels.write(trained, file);
        report.setTrainedModelPath(file.toAbsolutePath().toString());
        report.setModelAfter(facts.facts(trained, dataset.imageShape()));
        endPhase();
    }

    /**
     * The evaluate phase of an evaluate-only run: the loaded (fp32) model, then the compressed one,
     * each in its own evaluate window tagged with its variant, on the same test images. The run's
     * top-1 and exported model are the compressed one's; the comparison goes into the report's
     * compression entries and a {@code run_inference} point per variant.
     */
    private void evaluateVariants() throws Stop {
        Map<String, InferenceComparison.Measured> measured = new LinkedHashMap<>();
        InferenceComparison.Result last = null;
        for (String variant : comparison.variants()) {
            if (cancel.isRaised()) {
                throw new Stop("cancelled before evaluating the " + variant + " model", true, null);
            }
            beginPhase("evaluate", 0, variant);
            last = comparison.run(variant, comparisonPasses);
            InferenceComparison.Measured m = new InferenceComparison.Measured(last, endPhase());
            measured.put(variant, m);
            events.write("run_inference", Map.of("variant", variant), m.fields(), lastPhaseEndNanos());
        }
        report.putAllCompression(InferenceComparison.entries(measured));
        ClassificationMetrics.Result eval = last.metrics();
        report.setTop1(eval.top1()).setTop5(eval.top5()).setMacroF1(eval.macroF1()).setEvalLoss(eval.loss());
        Path file = settings.runsDirectory().resolve(runId).resolve("model.onnx");
        OnnxModels.write(compressed, file);
        report.setTrainedModelPath(file.toAbsolutePath().toString());
        report.setModelAfter(facts.facts(compressed, dataset.imageShape()));
        listener.partial(partialReport());
    }

    // ---- windows and reports ------------------------------------------------------------------

    private void beginPhase(String name, int epoch) {
        beginPhase(name, epoch, "");
    }

    private void beginPhase(String name, int epoch, String variant) {
        Map<String, String> labels = new LinkedHashMap<>(Map.of("run_id", runId, "phase", name, "epoch",
                Integer.toString(epoch)));
        if (!variant.isEmpty()) {
            labels.put("variant", variant);
        }
        EnergyMeter.Window window = meter.begin(labels);
        open = new OpenPhase(name, epoch, variant, window);
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("event", "start");
        fields.put("epoch", (long) epoch);
        events.write("run_phase", phaseTags(open), fields, window.startNanos());
        listener.phase(PhaseChange.newBuilder().setPhase(name).setEpoch(epoch).setStarted(true).build());
    }

    private EnergySummary endPhase() {
        OpenPhase phase = open;
        WindowEnergy window = meter.end(phase.window());
        open = null;
        EnergySummary energy = EnergySummaries.of(window, idleWatts);
        phases.add(PhaseReport.newBuilder().setPhase(phase.name()).setEpoch(phase.epoch())
                .setStart(window.getStart()).setEnd(window.getEnd()).setEnergy(energy).build());
        phaseEnergy.add(energy);
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("event", "end");
        fields.put("epoch", (long) phase.epoch());
        fields.put("duration_seconds", energy.getDurationSeconds());
        fields.put("energy_joules", energy.getEnergyJoules());
        fields.put("net_energy_joules", energy.getNetEnergyJoules());
        events.write("run_phase", phaseTags(phase), fields, nanos(window.getEnd()));
        listener.phase(PhaseChange.newBuilder().setPhase(phase.name()).setEpoch(phase.epoch()).setStarted(false).build());
        listener.energy(EnergySummaries.sum(phaseEnergy));
        if (!phase.name().equals("train")) {
            listener.partial(partialReport());
        }
        return energy;
    }

    private static Map<String, String> phaseTags(OpenPhase phase) {
        return phase.variant().isEmpty() ? Map.of("phase", phase.name())
                : Map.of("phase", phase.name(), "variant", phase.variant());
    }

    /** Ends the phase a failure or cancel left open, so that what it used is kept. */
    private void closeOpenPhase() {
        if (open != null) {
            try {
                endPhase();
            } catch (RuntimeException e) {
                open = null;
            }
        }
    }

    private long lastPhaseEndNanos() {
        return nanos(phases.get(phases.size() - 1).getEnd());
    }

    /** The report as it stands: phases and epochs so far, energy as the sum of the phases. */
    private RunReport partialReport() {
        RunReport.Builder b = report.clone().clearPhases().addAllPhases(phases).clearEpochs().addAllEpochs(epochs);
        EnergySummary soFar = EnergySummaries.sum(phaseEnergy);
        b.setEnergy(soFar).setDurationSeconds(soFar.getDurationSeconds());
        perSampleFigures(b);
        return b.build();
    }

    /** Ends the run window and writes the run's end event; returns the report. */
    private RunReport finish(String state) {
        EnergySummary energy;
        long endNanos;
        try {
            WindowEnergy window = meter.end(runWindow);
            energy = EnergySummaries.of(window, idleWatts);
            endNanos = nanos(window.getEnd());
        } catch (RuntimeException e) {
            // The meter went away: the phases measured so far are the best account of the run.
            LOG.warn("run {}: the run's meter window could not be closed ({}); its energy is the sum of its phases",
                    runId, e.getMessage());
            energy = EnergySummaries.sum(phaseEnergy);
            endNanos = System.currentTimeMillis() * 1_000_000L;
        }
        RunReport.Builder b = report.clone().clearPhases().addAllPhases(phases).clearEpochs().addAllEpochs(epochs)
                .setEnergy(energy)
                .setDurationSeconds(energy.getDurationSeconds());
        perSampleFigures(b);
        double netKwh = energy.getNetEnergyKwh();
        if (netKwh >= MIN_EFFICIENCY_KWH && state.equals("SUCCEEDED")) {
            b.setEfficiencyTop1PerKwh(b.getTop1() / netKwh);
        }
        double kwh = energy.getEnergyKwh();
        carbonIntensity().ifPresent(g -> b.setCarbon(CarbonReport.newBuilder()
                .setGridIntensityGPerKwh(g.gramsPerKwh())
                .setRegion(g.region())
                .setSource(g.source())
                .setCo2EGrams(kwh * g.gramsPerKwh())
                .setNetCo2EGrams(netKwh * g.gramsPerKwh())));
        RunReport done = b.build();
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("state", state);
        fields.put("epochs", (long) epochs());
        fields.put("batch_size", (long) batchSize());
        fields.put("learning_rate", spec.getLearningRate());
        fields.put("duration_seconds", done.getDurationSeconds());
        fields.put("energy_joules", energy.getEnergyJoules());
        fields.put("energy_kwh", energy.getEnergyKwh());
        fields.put("net_energy_joules", energy.getNetEnergyJoules());
        fields.put("net_energy_kwh", energy.getNetEnergyKwh());
        fields.put("top1", done.getTop1());
        fields.put("top5", done.getTop5());
        fields.put("macro_f1", done.getMacroF1());
        fields.put("efficiency_top1_per_kwh", done.getEfficiencyTop1PerKwh());
        if (done.hasCarbon()) {
            fields.put("co2e_grams", done.getCarbon().getCo2EGrams());
        }
        ModelFacts model = done.hasModelAfter() ? done.getModelAfter() : done.getModelBefore();
        fields.put("parameters", model.getParameters());
        fields.put("macs", model.getMacs());
        events.write("run", Map.of(), fields, endNanos);
        listener.energy(energy);
        listener.partial(done);
        return done;
    }

    private void perSampleFigures(RunReport.Builder b) {
        if (!epochs.isEmpty()) {
            b.setEnergyPerEpochJoules(trainJoules / epochs.size());
        }
        if (trainSamples > 0) {
            b.setEnergyPer1000SamplesJoules(trainJoules / trainSamples * 1000);
        }
    }

    private java.util.Optional<CarbonIntensities.GridIntensity> carbonIntensity() {
        if (!spec.hasCarbon()) {
            return java.util.Optional.empty();
        }
        return switch (spec.getCarbon().getIntensityCase()) {
            case GRID_INTENSITY_G_PER_KWH -> java.util.Optional.of(new CarbonIntensities.GridIntensity(
                    spec.getCarbon().getGridIntensityGPerKwh(), "", "run spec (carbon.grid_intensity_g_per_kwh)"));
            case REGION -> carbon.lookup(spec.getCarbon().getRegion());
            case INTENSITY_NOT_SET -> java.util.Optional.empty();
        };
    }

    // ---- the spec, read with its defaults -----------------------------------------------------

    private int epochs() {
        return spec.getEpochs() > 0 ? spec.getEpochs() : 1;
    }

    private int batchSize() {
        return spec.getBatchSize() > 0 ? spec.getBatchSize() : 32;
    }

    /** The spec's pass as it runs on the device (precision computes in 16 bits on CUDA only by default). */
    /** Whether the technique only evaluates (quantize); invalid parameters are the compress phase's to report. */
    private boolean evaluateOnly() {
        try {
            return Techniques.create(spec.getCompression().getTechnique(), spec.getCompression().getParametersMap())
                    instanceof InferenceOnlyPass;
        } catch (InvalidCompressionException e) {
            return false;
        }
    }

    private CompressionPass pass(String device) throws Stop {
        try {
            return Techniques.create(spec.getCompression().getTechnique(), spec.getCompression().getParametersMap())
                    .on(device);
        } catch (InvalidCompressionException e) {
            throw new Stop("compress: spec.compression." + e.getMessage(), false, e);
        }
    }

    /** The 16-bit compute a precision pass (or a distillation's precision student) asks for; null for float32. */
    static MixedPrecision mixedPrecision(CompressionPass pass) {
        CompressionPass p = pass instanceof DistillationPass d ? d.student() : pass;
        return p instanceof PrecisionPass precision ? precision.mixedPrecision() : null;
    }

    private Optimizer optimizer() throws Stop {
        OptimizerSpec o = spec.getOptimizer();
        String name = o.getName().isBlank() ? "sgd" : o.getName().strip().toLowerCase(Locale.ROOT);
        try {
            return switch (name) {
                case "sgd" -> new Optimizer.Sgd(o.getMomentum(), o.getNesterov(), o.getWeightDecay());
                case "adamw" -> new Optimizer.AdamW(o.getBeta1() == 0 ? 0.9 : o.getBeta1(),
                        o.getBeta2() == 0 ? 0.999 : o.getBeta2(), o.getEpsilon() == 0 ? 1e-8 : o.getEpsilon(),
                        o.getWeightDecay());
                default -> throw new Stop("load: optimizer.name '" + o.getName() + "' is not sgd or adamw", false, null);
            };
        } catch (IllegalArgumentException e) {
            throw new Stop("load: optimizer: " + e.getMessage(), false, e);
        }
    }

    private TrainableSet trainable() throws Stop {
        TrainableSpec t = spec.getTrainable();
        return switch (t.getSelectionCase()) {
            case LAST_LAYERS -> new TrainableSet.LastLayers(t.getLastLayers());
            case NAME_PATTERN -> {
                try {
                    yield new TrainableSet.NamePattern(Pattern.compile(t.getNamePattern()));
                } catch (PatternSyntaxException e) {
                    throw new Stop("load: trainable.name_pattern: " + e.getDescription(), false, e);
                }
            }
            default -> new TrainableSet.All();
        };
    }

    private Transforms transforms(long[] modelInput) {
        return transforms(spec, dataset, modelInput);
    }

    /** The spec's transforms for a model with this input: resize to it, augmentation, normalisation. */
    static Transforms transforms(RunSpec spec, Dataset dataset, long[] modelInput) {
        List<ImageTransform> steps = new ArrayList<>();
        boolean resize = !spec.getDataset().hasResize() || spec.getDataset().getResize();
        if (resize && modelInput.length >= 3) {
            long h = modelInput[modelInput.length - 2];
            long w = modelInput[modelInput.length - 1];
            var stored = dataset.storedShape();
            if (h > 0 && w > 0 && (h != stored.height() || w != stored.width())) {
                steps.add(new Resize((int) h, (int) w));
            }
        }
        if (spec.getAugmentation().getRandomCropPadding() > 0) {
            steps.add(new RandomCrop(spec.getAugmentation().getRandomCropPadding()));
        }
        if (spec.getAugmentation().getHorizontalFlip()) {
            steps.add(new RandomHorizontalFlip());
        }
        normalization(spec.getDataset().getNormalize(), dataset.train()).ifPresent(steps::add);
        return new Transforms(steps);
    }

    /**
     * The spec's normalisation: imagenet is the mean and standard deviation torchvision's
     * pre-trained weights were trained with (its documentation, "transforms" of every classification
     * weight), dataset the training split's own statistics.
     */
    static java.util.Optional<Normalize> normalization(io.wattlab.proto.v1.NormalizeSpec n, Split train) {
        return switch (n.getPreset().isEmpty() ? "none" : n.getPreset()) {
            case "imagenet" -> java.util.Optional.of(new Normalize(IMAGENET_MEAN, IMAGENET_STD));
            case "dataset" -> java.util.Optional.of(train.channelStatistics().asTransform());
            case "custom" -> java.util.Optional.of(new Normalize(floats(n.getMeanList()), floats(n.getStdList())));
            default -> java.util.Optional.empty();
        };
    }

    private static float[] floats(List<Double> values) {
        float[] f = new float[values.size()];
        for (int i = 0; i < f.length; i++) {
            f[i] = values.get(i).floatValue();
        }
        return f;
    }

    /** Parameters from the training state, frozen ones from the model: every value the eval graph takes. */
    private Map<String, float[]> evalState() {
        Map<String, float[]> state = new LinkedHashMap<>(initialState);
        trainer.state().forEach((k, v) -> state.computeIfPresent(k, (kk, old) -> v));
        return state;
    }

    /** The model's image input, {@code [N, C, H, W]} with -1 for a symbolic dimension. */
    static long[] inputDims(ModelProto model) {
        java.util.Set<String> initializers = new java.util.HashSet<>();
        model.getGraph().getInitializerList().forEach(t -> initializers.add(t.getName()));
        for (ValueInfoProto in : model.getGraph().getInputList()) {
            if (!initializers.contains(in.getName())) {
                return dims(in);
            }
        }
        return new long[0];
    }

    /** The last dimension of the model's first output, or 0 when it is not fixed. */
    static long classCount(ModelProto model) {
        if (model.getGraph().getOutputCount() == 0) {
            return 0;
        }
        long[] d = dims(model.getGraph().getOutput(0));
        return d.length == 0 || d[d.length - 1] < 0 ? 0 : d[d.length - 1];
    }

    private static long[] dims(ValueInfoProto value) {
        List<TensorShapeProto.Dimension> list = value.getType().getTensorType().getShape().getDimList();
        long[] d = new long[list.size()];
        for (int i = 0; i < d.length; i++) {
            d[i] = list.get(i).hasDimValue() ? list.get(i).getDimValue() : -1;
        }
        return d;
    }

    private static long nanos(Timestamp t) {
        return t.getSeconds() * 1_000_000_000L + t.getNanos();
    }
}
