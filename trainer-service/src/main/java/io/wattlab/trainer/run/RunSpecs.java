package io.wattlab.trainer.run;

import io.wattlab.proto.v1.CarbonSpec;
import io.wattlab.proto.v1.CompressionSpec;
import io.wattlab.proto.v1.DatasetSpec;
import io.wattlab.proto.v1.ModelSpec;
import io.wattlab.proto.v1.NormalizeSpec;
import io.wattlab.proto.v1.OptimizerSpec;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.proto.v1.ScheduleSpec;
import io.wattlab.proto.v1.TrainableSpec;
import io.wattlab.trainer.compress.InvalidCompressionException;
import io.wattlab.trainer.compress.Techniques;
import io.wattlab.trainer.data.Datasets;

import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The defaults of a {@link RunSpec} and the checks it must pass before it is queued, so that an
 * executor is only ever given a complete spec that makes sense.
 *
 * <p>proto3 cannot tell an unset number from zero, so a zero epochs, batch size or learning rate
 * means "the default"; a negative one is an error.
 */
public final class RunSpecs {

    public static final int DEFAULT_EPOCHS = 1;
    public static final int DEFAULT_BATCH_SIZE = 32;
    public static final double DEFAULT_LEARNING_RATE = 0.01;
    public static final String DEFAULT_OPTIMIZER = "sgd";
    public static final String DEFAULT_DEVICE = "cpu";
    public static final double DEFAULT_IDLE_SECONDS = 3;
    public static final String DEFAULT_SCHEDULE = "constant";
    public static final String NO_COMPRESSION = "none";
    /** The step schedule's factor when none is given. */
    public static final double DEFAULT_STEP_GAMMA = 0.1;
    /** AdamW's usual constants (Loshchilov and Hutter, "Decoupled Weight Decay Regularization", 2019). */
    public static final double DEFAULT_ADAMW_BETA1 = 0.9;
    public static final double DEFAULT_ADAMW_BETA2 = 0.999;
    public static final double DEFAULT_ADAMW_EPSILON = 1e-8;

    public static final List<String> OPTIMIZERS = List.of("sgd", "adamw");
    public static final List<String> SCHEDULES = List.of("constant", "step", "cosine");
    public static final List<String> NORMALIZE_PRESETS = List.of("none", "imagenet", "dataset", "custom");
    public static final List<String> BUILTIN_MODELS = List.of("resnet-cifar", "mobilenet-cifar");
    /** Tags every run's InfluxDB points carry already; a label of the same name would hide them. */
    public static final List<String> RESERVED_LABELS = List.of("run_id", "model", "technique", "phase");

    private static final Pattern DEVICE = Pattern.compile("cpu|cuda:(0|[1-9][0-9]{0,3})");
    private static final Pattern REGION = Pattern.compile("[A-Z]{2}");

    private RunSpecs() {
    }

    /**
     * Checks {@code spec} and returns it with every default filled in: the spec a run is recorded
     * and executed with.
     *
     * @throws InvalidSpecException naming the first field that is wrong
     */
    public static RunSpec validate(RunSpec spec) {
        RunSpec complete = withDefaults(spec);
        check(complete);
        return complete;
    }

    /** {@code spec} with unset or zero fields replaced by their defaults; nothing is checked. */
    public static RunSpec withDefaults(RunSpec spec) {
        RunSpec.Builder b = spec.toBuilder();
        if (b.getEpochs() == 0) {
            b.setEpochs(DEFAULT_EPOCHS);
        }
        if (b.getBatchSize() == 0) {
            b.setBatchSize(DEFAULT_BATCH_SIZE);
        }
        if (b.getLearningRate() == 0) {
            b.setLearningRate(DEFAULT_LEARNING_RATE);
        }
        if (!b.hasShuffle()) {
            b.setShuffle(true);
        }
        if (!b.hasIdleSeconds()) {
            b.setIdleSeconds(DEFAULT_IDLE_SECONDS);
        }
        b.setDevice(b.getDevice().strip().isEmpty() ? DEFAULT_DEVICE : b.getDevice().strip().toLowerCase(Locale.ROOT));

        if (b.hasDataset()) {
            DatasetSpec.Builder d = b.getDatasetBuilder();
            d.setFormat(d.getFormat().strip().toLowerCase(Locale.ROOT));
            if (!d.hasResize()) {
                d.setResize(true);
            }
            d.getNormalizeBuilder().setPreset(orDefault(d.getNormalize().getPreset(), "none"));
        }
        if (b.getTrainable().getSelectionCase() == TrainableSpec.SelectionCase.SELECTION_NOT_SET) {
            b.setTrainable(TrainableSpec.newBuilder().setAll(true));
        }

        ScheduleSpec.Builder schedule = b.getScheduleBuilder();
        schedule.setKind(orDefault(schedule.getKind(), DEFAULT_SCHEDULE));
        if (schedule.getKind().equals("step") && schedule.getGamma() == 0) {
            schedule.setGamma(DEFAULT_STEP_GAMMA);
        }

        OptimizerSpec.Builder optimizer = b.getOptimizerBuilder();
        optimizer.setName(orDefault(optimizer.getName(), DEFAULT_OPTIMIZER));
        if (optimizer.getName().equals("adamw")) {
            if (optimizer.getBeta1() == 0) {
                optimizer.setBeta1(DEFAULT_ADAMW_BETA1);
            }
            if (optimizer.getBeta2() == 0) {
                optimizer.setBeta2(DEFAULT_ADAMW_BETA2);
            }
            if (optimizer.getEpsilon() == 0) {
                optimizer.setEpsilon(DEFAULT_ADAMW_EPSILON);
            }
        }

        CompressionSpec.Builder compression = b.getCompressionBuilder();
        compression.setTechnique(orDefault(compression.getTechnique(), NO_COMPRESSION));

        if (b.getCarbon().getIntensityCase() == CarbonSpec.IntensityCase.REGION) {
            b.getCarbonBuilder().setRegion(b.getCarbon().getRegion().strip().toUpperCase(Locale.ROOT));
        }
        return b.build();
    }

    private static String orDefault(String value, String fallback) {
        String v = value.strip().toLowerCase(Locale.ROOT);
        return v.isEmpty() ? fallback : v;
    }

    private static void check(RunSpec spec) {
        checkModel(spec);
        checkDataset(spec);
        checkTrainable(spec.getTrainable());
        atLeastOne("spec.epochs", spec.getEpochs());
        atLeastOne("spec.batch_size", spec.getBatchSize());
        positive("spec.learning_rate", spec.getLearningRate());
        checkSchedule(spec.getSchedule(), spec.getLearningRate());
        checkOptimizer(spec.getOptimizer());
        nonNegative("spec.augmentation.random_crop_padding", spec.getAugmentation().getRandomCropPadding());
        if (!DEVICE.matcher(spec.getDevice()).matches()) {
            throw new InvalidSpecException("spec.device", "'" + spec.getDevice() + "' is not a device (cpu or cuda:N, such as cuda:0)");
        }
        checkLabels(spec.getLabelsMap());
        try {
            Techniques.create(spec.getCompression().getTechnique(), spec.getCompression().getParametersMap())
                    .on(spec.getDevice());
        } catch (InvalidCompressionException e) {
            throw new InvalidSpecException("spec.compression." + e.field(), e.problem());
        }
        checkCarbon(spec.getCarbon());
        nonNegative("spec.idle_seconds", spec.getIdleSeconds());
        double smoothing = spec.getLabelSmoothing();
        if (!(smoothing >= 0 && smoothing < 1)) {
            throw new InvalidSpecException("spec.label_smoothing", smoothing + " is outside [0, 1)");
        }
        nonNegative("spec.clip_grad_norm", spec.getClipGradNorm());
    }

    private static void checkModel(RunSpec spec) {
        if (!spec.hasModel() || spec.getModel().getSourceCase() == ModelSpec.SourceCase.SOURCE_NOT_SET) {
            throw new InvalidSpecException("spec.model", "missing: set onnx_path (an ONNX file) or builtin ("
                    + String.join(", ", BUILTIN_MODELS) + ")");
        }
        ModelSpec model = spec.getModel();
        if (model.getSourceCase() == ModelSpec.SourceCase.ONNX_PATH) {
            readableFile("spec.model.onnx_path", model.getOnnxPath());
            if (!model.getCheckpointPath().isEmpty()) {
                throw new InvalidSpecException("spec.model.checkpoint_path",
                        "applies to a built-in model only; onnx_path already names the weights");
            }
        } else {
            String builtin = model.getBuiltin().strip();
            if (!BUILTIN_MODELS.contains(builtin)) {
                throw new InvalidSpecException("spec.model.builtin", "unknown built-in model '" + model.getBuiltin()
                        + "' (known: " + String.join(", ", BUILTIN_MODELS) + ")");
            }
            if (!model.getCheckpointPath().isEmpty()) {
                readableFile("spec.model.checkpoint_path", model.getCheckpointPath());
            }
        }
        nonNegative("spec.model.num_classes", model.getNumClasses());
    }

    private static void checkDataset(RunSpec spec) {
        if (!spec.hasDataset()) {
            throw new InvalidSpecException("spec.dataset", "missing: set format (" + String.join(", ", Datasets.FORMATS)
                    + ") and, except for synthetic, path");
        }
        DatasetSpec dataset = spec.getDataset();
        if (!Datasets.FORMATS.contains(dataset.getFormat())) {
            throw new InvalidSpecException("spec.dataset.format", (dataset.getFormat().isEmpty() ? "missing"
                    : "unknown dataset format '" + dataset.getFormat() + "'") + " (known: " + String.join(", ", Datasets.FORMATS) + ")");
        }
        checkNormalize(dataset.getNormalize());
        if (dataset.getFormat().equals("synthetic")) {
            return;
        }
        if (dataset.getPath().isBlank()) {
            throw new InvalidSpecException("spec.dataset.path", "missing: format " + dataset.getFormat()
                    + " reads its files from a path");
        }
        Path path = path("spec.dataset.path", dataset.getPath());
        if (!Files.exists(path)) {
            throw new InvalidSpecException("spec.dataset.path", "no such file or directory: " + path);
        }
        if (!Files.isReadable(path)) {
            throw new InvalidSpecException("spec.dataset.path", "not readable: " + path);
        }
    }

    private static void checkNormalize(NormalizeSpec normalize) {
        boolean custom = normalize.getPreset().equals("custom");
        if (!NORMALIZE_PRESETS.contains(normalize.getPreset())) {
            throw new InvalidSpecException("spec.dataset.normalize.preset", "unknown preset '" + normalize.getPreset()
                    + "' (known: " + String.join(", ", NORMALIZE_PRESETS) + ")");
        }
        if (!custom && (normalize.getMeanCount() > 0 || normalize.getStdCount() > 0)) {
            throw new InvalidSpecException("spec.dataset.normalize.mean", "mean and std are only read with preset custom");
        }
        if (custom) {
            if (normalize.getMeanCount() == 0 || normalize.getMeanCount() != normalize.getStdCount()) {
                throw new InvalidSpecException("spec.dataset.normalize.std", "preset custom needs as many std values as"
                        + " mean values (one, or one per channel); got " + normalize.getMeanCount() + " and "
                        + normalize.getStdCount());
            }
            for (int i = 0; i < normalize.getStdCount(); i++) {
                if (!(normalize.getStd(i) > 0)) {
                    throw new InvalidSpecException("spec.dataset.normalize.std", "std[" + i + "] is "
                            + normalize.getStd(i) + "; each must be positive");
                }
            }
        }
    }

    private static void checkTrainable(TrainableSpec trainable) {
        switch (trainable.getSelectionCase()) {
            case ALL -> {
                if (!trainable.getAll()) {
                    throw new InvalidSpecException("spec.trainable.all", "false selects no parameter;"
                            + " use last_layers or name_pattern to train a part of the model");
                }
            }
            case LAST_LAYERS -> atLeastOne("spec.trainable.last_layers", trainable.getLastLayers());
            case NAME_PATTERN -> {
                try {
                    Pattern.compile(trainable.getNamePattern());
                } catch (PatternSyntaxException e) {
                    throw new InvalidSpecException("spec.trainable.name_pattern", "'" + trainable.getNamePattern()
                            + "' is not a regular expression: " + e.getDescription() + " at index " + e.getIndex());
                }
            }
            default -> {
                // withDefaults selects all parameters
            }
        }
    }

    private static void checkSchedule(ScheduleSpec schedule, double learningRate) {
        switch (schedule.getKind()) {
            case "constant" -> {
            }
            case "step" -> {
                atLeastOne("spec.schedule.step_epochs", schedule.getStepEpochs());
                positive("spec.schedule.gamma", schedule.getGamma());
            }
            case "cosine" -> {
                nonNegative("spec.schedule.min_learning_rate", schedule.getMinLearningRate());
                if (schedule.getMinLearningRate() > learningRate) {
                    throw new InvalidSpecException("spec.schedule.min_learning_rate", schedule.getMinLearningRate()
                            + " is above the learning rate " + learningRate);
                }
            }
            default -> throw new InvalidSpecException("spec.schedule.kind", "unknown schedule '" + schedule.getKind()
                    + "' (known: " + String.join(", ", SCHEDULES) + ")");
        }
    }

    private static void checkOptimizer(OptimizerSpec optimizer) {
        if (!OPTIMIZERS.contains(optimizer.getName())) {
            throw new InvalidSpecException("spec.optimizer.name", "unknown optimizer '" + optimizer.getName()
                    + "' (known: " + String.join(", ", OPTIMIZERS) + ")");
        }
        fraction("spec.optimizer.momentum", optimizer.getMomentum());
        nonNegative("spec.optimizer.weight_decay", optimizer.getWeightDecay());
        fraction("spec.optimizer.beta1", optimizer.getBeta1());
        fraction("spec.optimizer.beta2", optimizer.getBeta2());
        nonNegative("spec.optimizer.epsilon", optimizer.getEpsilon());
        if (optimizer.getNesterov() && optimizer.getName().equals("sgd") && optimizer.getMomentum() == 0) {
            throw new InvalidSpecException("spec.optimizer.nesterov", "needs a momentum above 0");
        }
    }

    private static void checkLabels(Map<String, String> labels) {
        for (Map.Entry<String, String> label : labels.entrySet()) {
            if (label.getKey().isBlank()) {
                throw new InvalidSpecException("spec.labels", "a label has an empty name");
            }
            if (RESERVED_LABELS.contains(label.getKey())) {
                throw new InvalidSpecException("spec.labels." + label.getKey(), "is a tag every run has already ("
                        + String.join(", ", RESERVED_LABELS) + "); choose another name");
            }
            if (label.getValue().isBlank()) {
                throw new InvalidSpecException("spec.labels." + label.getKey(), "has an empty value");
            }
        }
    }

    private static void checkCarbon(CarbonSpec carbon) {
        switch (carbon.getIntensityCase()) {
            case GRID_INTENSITY_G_PER_KWH -> nonNegative("spec.carbon.grid_intensity_g_per_kwh",
                    carbon.getGridIntensityGPerKwh());
            case REGION -> {
                if (!REGION.matcher(carbon.getRegion()).matches()) {
                    throw new InvalidSpecException("spec.carbon.region", "'" + carbon.getRegion()
                            + "' is not an ISO 3166-1 alpha-2 country code (two letters, such as FR)");
                }
            }
            default -> {
                // no CO2 figure unless asked for
            }
        }
    }

    private static void readableFile(String field, String value) {
        if (value.isBlank()) {
            throw new InvalidSpecException(field, "is empty");
        }
        Path path = path(field, value);
        if (!Files.exists(path)) {
            throw new InvalidSpecException(field, "no such file: " + path);
        }
        if (!Files.isRegularFile(path)) {
            throw new InvalidSpecException(field, "not a file: " + path);
        }
        if (!Files.isReadable(path)) {
            throw new InvalidSpecException(field, "not readable: " + path);
        }
    }

    private static Path path(String field, String value) {
        try {
            return Path.of(value);
        } catch (InvalidPathException e) {
            throw new InvalidSpecException(field, "'" + value + "' is not a path (" + e.getReason() + ")");
        }
    }

    private static void atLeastOne(String field, long value) {
        if (value < 1) {
            throw new InvalidSpecException(field, value + " is less than 1");
        }
    }

    private static void nonNegative(String field, long value) {
        if (value < 0) {
            throw new InvalidSpecException(field, value + " is negative");
        }
    }

    private static void nonNegative(String field, double value) {
        if (Double.isNaN(value) || Double.isInfinite(value)) {
            throw new InvalidSpecException(field, value + " is not a finite number");
        }
        if (value < 0) {
            throw new InvalidSpecException(field, value + " is negative");
        }
    }

    private static void positive(String field, double value) {
        nonNegative(field, value);
        if (value == 0) {
            throw new InvalidSpecException(field, "0 must be above 0");
        }
    }

    private static void fraction(String field, double value) {
        nonNegative(field, value);
        if (value >= 1) {
            throw new InvalidSpecException(field, value + " is outside [0, 1)");
        }
    }
}
