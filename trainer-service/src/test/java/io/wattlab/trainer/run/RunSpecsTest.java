package io.wattlab.trainer.run;

import io.wattlab.proto.v1.CarbonSpec;
import io.wattlab.proto.v1.DatasetSpec;
import io.wattlab.proto.v1.ModelSpec;
import io.wattlab.proto.v1.NormalizeSpec;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.proto.v1.TrainableSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RunSpecsTest {

    @TempDir
    Path dir;

    static final RunSpec MINIMAL = RunSpec.newBuilder()
            .setModel(ModelSpec.newBuilder().setBuiltin("resnet-cifar"))
            .setDataset(DatasetSpec.newBuilder().setFormat("synthetic"))
            .build();

    /** The message {@code change} applied to a valid spec is refused with. */
    static String refusal(UnaryOperator<RunSpec.Builder> change) {
        InvalidSpecException e = assertThrows(InvalidSpecException.class,
                () -> RunSpecs.validate(change.apply(MINIMAL.toBuilder()).build()));
        assertTrue(e.getMessage().startsWith(e.field() + ": "), e.getMessage());
        return e.getMessage();
    }

    @Test
    void aMinimalSpecGetsEveryDefault() {
        RunSpec spec = RunSpecs.validate(MINIMAL);
        assertEquals(1, spec.getEpochs());
        assertEquals(32, spec.getBatchSize());
        assertEquals(0.01, spec.getLearningRate());
        assertEquals("sgd", spec.getOptimizer().getName());
        assertEquals("cpu", spec.getDevice());
        assertEquals(3.0, spec.getIdleSeconds());
        assertTrue(spec.hasShuffle() && spec.getShuffle());
        assertEquals("constant", spec.getSchedule().getKind());
        assertTrue(spec.getTrainable().getAll());
        assertEquals("none", spec.getCompression().getTechnique());
        assertTrue(spec.getDataset().getResize());
    }

    @Test
    void valuesGivenAreKeptAndNamesAreNormalised() {
        RunSpec spec = RunSpecs.validate(MINIMAL.toBuilder()
                .setEpochs(5).setBatchSize(128).setLearningRate(0.1).setShuffle(false).setIdleSeconds(0)
                .setDevice(" CUDA:1 ")
                .setTrainable(TrainableSpec.newBuilder().setLastLayers(2))
                .setOptimizer(MINIMAL.getOptimizer().toBuilder().setName("AdamW"))
                .setCarbon(CarbonSpec.newBuilder().setRegion("fr"))
                .build());
        assertEquals(5, spec.getEpochs());
        assertEquals(128, spec.getBatchSize());
        assertEquals(0.1, spec.getLearningRate());
        assertFalse(spec.getShuffle());
        assertEquals(0.0, spec.getIdleSeconds());
        assertEquals("cuda:1", spec.getDevice());
        assertEquals(2, spec.getTrainable().getLastLayers());
        assertEquals("adamw", spec.getOptimizer().getName());
        assertEquals(0.9, spec.getOptimizer().getBeta1());
        assertEquals(0.999, spec.getOptimizer().getBeta2());
        assertEquals("FR", spec.getCarbon().getRegion());
    }

    @Test
    void theModelIsRequiredAndItsFileMustExist() {
        assertTrue(refusal(b -> b.clearModel()).startsWith("spec.model: missing: set onnx_path"));
        Path missing = dir.resolve("nowhere/model.onnx");
        assertEquals("spec.model.onnx_path: no such file: " + missing,
                refusal(b -> b.setModel(ModelSpec.newBuilder().setOnnxPath(missing.toString()))));
        assertEquals("spec.model.onnx_path: not a file: " + dir,
                refusal(b -> b.setModel(ModelSpec.newBuilder().setOnnxPath(dir.toString()))));
        assertEquals("spec.model.builtin: unknown built-in model 'vgg' (known: resnet-cifar, mobilenet-cifar)",
                refusal(b -> b.setModel(ModelSpec.newBuilder().setBuiltin("vgg"))));
        assertEquals("spec.model.checkpoint_path: no such file: " + missing,
                refusal(b -> b.setModel(ModelSpec.newBuilder().setBuiltin("resnet-cifar").setCheckpointPath(missing.toString()))));
    }

    @Test
    void anExistingModelFileIsAccepted() throws Exception {
        Path model = Files.writeString(dir.resolve("model.onnx"), "not checked here: that is the executor's job");
        RunSpec spec = RunSpecs.validate(MINIMAL.toBuilder().setModel(ModelSpec.newBuilder().setOnnxPath(model.toString())).build());
        assertEquals(model.toString(), spec.getModel().getOnnxPath());
    }

    @Test
    void theDatasetFormatMustBeKnownAndItsPathMustExist() {
        assertEquals("spec.dataset.format: unknown dataset format 'imagenet' (known: cifar10, cifar100, mnist,"
                        + " fashion-mnist, medmnist, imagefolder, synthetic)",
                refusal(b -> b.setDataset(DatasetSpec.newBuilder().setFormat("imagenet"))));
        assertTrue(refusal(b -> b.clearDataset()).startsWith("spec.dataset: missing"));
        assertEquals("spec.dataset.path: missing: format cifar10 reads its files from a path",
                refusal(b -> b.setDataset(DatasetSpec.newBuilder().setFormat("cifar10"))));
        assertEquals("spec.dataset.path: no such file or directory: " + dir.resolve("cifar"),
                refusal(b -> b.setDataset(DatasetSpec.newBuilder().setFormat("cifar10").setPath(dir.resolve("cifar").toString()))));
        RunSpecs.validate(MINIMAL.toBuilder().setDataset(DatasetSpec.newBuilder().setFormat("CIFAR10").setPath(dir.toString())).build());
    }

    @Test
    void numbersOutOfRangeAreRefusedWithTheValue() {
        assertEquals("spec.epochs: -1 is less than 1", refusal(b -> b.setEpochs(-1)));
        assertEquals("spec.batch_size: -8 is less than 1", refusal(b -> b.setBatchSize(-8)));
        assertEquals("spec.learning_rate: -0.1 is negative", refusal(b -> b.setLearningRate(-0.1)));
        assertEquals("spec.learning_rate: NaN is not a finite number", refusal(b -> b.setLearningRate(Double.NaN)));
        assertEquals("spec.label_smoothing: 1.0 is outside [0, 1)", refusal(b -> b.setLabelSmoothing(1.0)));
        assertEquals("spec.label_smoothing: -0.1 is outside [0, 1)", refusal(b -> b.setLabelSmoothing(-0.1)));
        assertEquals("spec.idle_seconds: -1.0 is negative", refusal(b -> b.setIdleSeconds(-1)));
        assertEquals("spec.clip_grad_norm: -1.0 is negative", refusal(b -> b.setClipGradNorm(-1)));
        assertEquals("spec.optimizer.momentum: 1.5 is outside [0, 1)",
                refusal(b -> b.setOptimizer(b.getOptimizer().toBuilder().setMomentum(1.5))));
        assertEquals("spec.trainable.last_layers: 0 is less than 1",
                refusal(b -> b.setTrainable(TrainableSpec.newBuilder().setLastLayers(0))));
        assertEquals("spec.augmentation.random_crop_padding: -4 is negative",
                refusal(b -> b.setAugmentation(b.getAugmentation().toBuilder().setRandomCropPadding(-4))));
    }

    @Test
    void namesOfOptimizersSchedulesAndTechniquesMustBeKnown() {
        assertEquals("spec.optimizer.name: unknown optimizer 'adam' (known: sgd, adamw)",
                refusal(b -> b.setOptimizer(b.getOptimizer().toBuilder().setName("adam"))));
        assertEquals("spec.schedule.kind: unknown schedule 'linear' (known: constant, step, cosine)",
                refusal(b -> b.setSchedule(b.getSchedule().toBuilder().setKind("linear"))));
        assertEquals("spec.schedule.step_epochs: 0 is less than 1",
                refusal(b -> b.setSchedule(b.getSchedule().toBuilder().setKind("step"))));
        assertEquals("spec.schedule.min_learning_rate: 0.5 is above the learning rate 0.01",
                refusal(b -> b.setSchedule(b.getSchedule().toBuilder().setKind("cosine").setMinLearningRate(0.5))));
        assertEquals("spec.compression.technique: unknown technique 'zip' (known: "
                        + String.join(", ", io.wattlab.trainer.compress.Techniques.names()) + ")",
                refusal(b -> b.setCompression(b.getCompression().toBuilder().setTechnique("zip"))));
        assertEquals("spec.compression.parameters.sparsity: unknown parameter",
                refusal(b -> b.setCompression(b.getCompression().toBuilder().putParameters("sparsity", "0.5"))));
        assertTrue(refusal(b -> b.setTrainable(TrainableSpec.newBuilder().setNamePattern("conv[")))
                .startsWith("spec.trainable.name_pattern: 'conv[' is not a regular expression"));
    }

    @Test
    void bf16ComputeOnTheCpuIsRefusedNamingTheFormatAndTheProvider() {
        String message = refusal(b -> b.setCompression(b.getCompression().toBuilder().setTechnique("precision")
                .putParameters("format", "bf16").putParameters("compute", "bf16")));
        assertTrue(message.startsWith("spec.compression.parameters.compute: bf16 compute cannot run on device cpu: "
                + "ONNX Runtime's CPU execution provider has no bfloat16 kernels"), message);
        // The same spec on a GPU, and bf16-rounded weights with float32 compute on the CPU, are valid.
        RunSpecs.validate(MINIMAL.toBuilder().setDevice("cuda:0").setCompression(MINIMAL.getCompression().toBuilder()
                .setTechnique("precision").putParameters("format", "bf16").putParameters("compute", "bf16")).build());
        RunSpecs.validate(MINIMAL.toBuilder().setCompression(MINIMAL.getCompression().toBuilder()
                .setTechnique("precision").putParameters("format", "bf16")).build());
        // A distillation whose student is such a precision pass is refused the same way, under its student key.
        assertTrue(refusal(b -> b.setCompression(b.getCompression().toBuilder().setTechnique("distill")
                .putParameters("student.technique", "precision").putParameters("student.format", "bf16")
                .putParameters("student.compute", "bf16")))
                .startsWith("spec.compression.parameters.student.compute: bf16 compute cannot run on device cpu"));
    }

    @Test
    void normalisationIsAPresetOrMatchingMeansAndDeviations() {
        assertEquals("none", RunSpecs.validate(MINIMAL).getDataset().getNormalize().getPreset());
        assertEquals("imagenet", RunSpecs.validate(MINIMAL.toBuilder().setDataset(MINIMAL.getDataset().toBuilder()
                .setNormalize(NormalizeSpec.newBuilder().setPreset(" ImageNet "))).build())
                .getDataset().getNormalize().getPreset());
        assertEquals("spec.dataset.normalize.preset: unknown preset 'zscore' (known: none, imagenet, dataset, custom)",
                refusal(b -> b.setDataset(b.getDataset().toBuilder().setNormalize(NormalizeSpec.newBuilder()
                        .setPreset("zscore")))));
        assertEquals("spec.dataset.normalize.std: preset custom needs as many std values as mean values (one, or one"
                        + " per channel); got 3 and 1",
                refusal(b -> b.setDataset(b.getDataset().toBuilder().setNormalize(NormalizeSpec.newBuilder()
                        .setPreset("custom").addAllMean(List.of(0.5, 0.5, 0.5)).addStd(0.2)))));
        assertEquals("spec.dataset.normalize.std: std[1] is 0.0; each must be positive",
                refusal(b -> b.setDataset(b.getDataset().toBuilder().setNormalize(NormalizeSpec.newBuilder()
                        .setPreset("custom").addAllMean(List.of(0.5, 0.5)).addAllStd(List.of(0.2, 0.0))))));
        assertEquals("spec.dataset.normalize.mean: mean and std are only read with preset custom",
                refusal(b -> b.setDataset(b.getDataset().toBuilder().setNormalize(NormalizeSpec.newBuilder()
                        .setPreset("imagenet").addMean(0.5)))));
    }

    @Test
    void theDeviceIsCpuOrACudaOrdinal() {
        assertEquals("spec.device: 'gpu' is not a device (cpu or cuda:N, such as cuda:0)", refusal(b -> b.setDevice("gpu")));
        assertTrue(refusal(b -> b.setDevice("cuda:")).startsWith("spec.device: 'cuda:'"));
        assertTrue(refusal(b -> b.setDevice("cuda:01")).startsWith("spec.device: 'cuda:01'"));
        assertEquals("cuda:12", RunSpecs.validate(MINIMAL.toBuilder().setDevice("cuda:12").build()).getDevice());
    }

    @Test
    void carbonRegionsAreTwoLetterCountryCodes() {
        assertEquals("spec.carbon.region: 'FRA' is not an ISO 3166-1 alpha-2 country code (two letters, such as FR)",
                refusal(b -> b.setCarbon(CarbonSpec.newBuilder().setRegion("FRA"))));
        assertEquals("spec.carbon.grid_intensity_g_per_kwh: -5.0 is negative",
                refusal(b -> b.setCarbon(CarbonSpec.newBuilder().setGridIntensityGPerKwh(-5))));
    }

    @Test
    void labelsMayNotHideTheTagsEveryRunHas() {
        assertEquals("spec.labels.phase: is a tag every run has already (run_id, model, technique, phase); choose another name",
                refusal(b -> b.putLabels("phase", "x")));
        assertEquals("spec.labels.team: has an empty value", refusal(b -> b.putLabels("team", " ")));
    }
}
