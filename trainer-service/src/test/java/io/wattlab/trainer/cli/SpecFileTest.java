package io.wattlab.trainer.cli;

import io.wattlab.proto.v1.AugmentationSpec;
import io.wattlab.proto.v1.CarbonSpec;
import io.wattlab.proto.v1.DatasetSpec;
import io.wattlab.proto.v1.ModelSpec;
import io.wattlab.proto.v1.OptimizerSpec;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.proto.v1.ScheduleSpec;
import io.wattlab.proto.v1.TrainableSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SpecFileTest {

    @TempDir
    Path dir;

    static final String FULL = """
            # Fine-tune the last two layers of a pre-trained ResNet on synthetic images.
            model:
              builtin: resnet-cifar
              checkpoint_path: /models/resnet-pretrained.onnx
              num_classes: 10
            dataset:
              format: synthetic
              options: {classes: 10, difficulty: easy}
              resize: false
            trainable: {last_layers: 2}
            epochs: 3
            batch_size: 64
            learning_rate: 0.05
            schedule: {kind: step, step_epochs: 1, gamma: 0.5}
            optimizer: {name: sgd, momentum: 0.9, nesterov: true, weight_decay: 5.0e-4}
            seed: 12345678901
            shuffle: false
            augmentation: {random_crop_padding: 4, horizontal_flip: true}
            device: cuda:0
            labels: {study: lr-sweep, note: "first try"}
            carbon: {region: FR}
            idle_seconds: 0
            label_smoothing: 0.1
            """;

    @Test
    void everyFieldIsReadUnderItsProtoName() throws Exception {
        RunSpec expected = RunSpec.newBuilder()
                .setModel(ModelSpec.newBuilder().setBuiltin("resnet-cifar")
                        .setCheckpointPath("/models/resnet-pretrained.onnx").setNumClasses(10))
                .setDataset(DatasetSpec.newBuilder().setFormat("synthetic")
                        .putOptions("classes", "10").putOptions("difficulty", "easy").setResize(false))
                .setTrainable(TrainableSpec.newBuilder().setLastLayers(2))
                .setEpochs(3).setBatchSize(64).setLearningRate(0.05)
                .setSchedule(ScheduleSpec.newBuilder().setKind("step").setStepEpochs(1).setGamma(0.5))
                .setOptimizer(OptimizerSpec.newBuilder().setName("sgd").setMomentum(0.9).setNesterov(true).setWeightDecay(5e-4))
                .setSeed(12_345_678_901L)
                .setShuffle(false)
                .setAugmentation(AugmentationSpec.newBuilder().setRandomCropPadding(4).setHorizontalFlip(true))
                .setDevice("cuda:0")
                .putLabels("study", "lr-sweep").putLabels("note", "first try")
                .setCarbon(CarbonSpec.newBuilder().setRegion("FR"))
                .setIdleSeconds(0)
                .setLabelSmoothing(0.1)
                .build();
        Path file = Files.writeString(dir.resolve("spec.yaml"), FULL);
        RunSpec spec = SpecFile.read(file);
        assertEquals(expected, spec);
        assertTrue(spec.hasIdleSeconds(), "an explicit 0 is kept apart from unset");
    }

    @Test
    void aStartRunRequestIsReadToo() throws Exception {
        RunSpec spec = SpecFile.parse("spec:\n  model: {onnx_path: m.onnx}\n  dataset: {format: mnist, path: /data}\n", "req.yaml");
        assertEquals("m.onnx", spec.getModel().getOnnxPath());
        assertEquals("/data", spec.getDataset().getPath());
    }

    @Test
    void anUnknownFieldIsNamedWithItsPathAndTheFile() {
        SpecFileException top = assertThrows(SpecFileException.class,
                () -> SpecFile.parse("model: {builtin: resnet-cifar}\noptimiser: {name: sgd}\n", "runs/a.yaml"));
        assertTrue(top.getMessage().startsWith("runs/a.yaml: spec.optimiser: unknown field (RunSpec has: model, dataset,"),
                top.getMessage());

        SpecFileException nested = assertThrows(SpecFileException.class,
                () -> SpecFile.parse("optimizer: {name: sgd, momentun: 0.9}\n", "b.yaml"));
        assertEquals("b.yaml: spec.optimizer.momentun: unknown field (OptimizerSpec has: name, momentum, nesterov,"
                + " weight_decay, beta1, beta2, epsilon)", nested.getMessage());
    }

    @Test
    void aValueOfTheWrongKindNamesTheFileAndTheField() {
        SpecFileException e = assertThrows(SpecFileException.class, () -> SpecFile.parse("epochs: many\n", "c.yaml"));
        assertEquals("c.yaml: spec.epochs: Not an int32 value: \"many\"", e.getMessage());

        SpecFileException nested = assertThrows(SpecFileException.class,
                () -> SpecFile.parse("epochs: 2\noptimizer: {name: sgd, nesterov: maybe}\n", "c.yaml"));
        assertTrue(nested.getMessage().startsWith("c.yaml: spec.optimizer.nesterov: "), nested.getMessage());
        assertFalse(nested.getMessage().contains("\n"));
    }

    @Test
    void badYamlIsReportedByLineAndColumn() {
        SpecFileException syntax = assertThrows(SpecFileException.class,
                () -> SpecFile.parse("model:\n  builtin: resnet-cifar\n epochs: [3\n", "d.yaml"));
        assertTrue(syntax.getMessage().startsWith("d.yaml: line 3, column "), syntax.getMessage());

        SpecFileException twice = assertThrows(SpecFileException.class,
                () -> SpecFile.parse("epochs: 1\nepochs: 2\n", "e.yaml"));
        assertTrue(twice.getMessage().startsWith("e.yaml: line 2") && twice.getMessage().contains("epochs"), twice.getMessage());

        SpecFileException list = assertThrows(SpecFileException.class, () -> SpecFile.parse("- epochs: 1\n", "f.yaml"));
        assertEquals("f.yaml: expected a mapping of run spec fields (model, dataset, epochs, ...)", list.getMessage());

        SpecFileException missing = assertThrows(SpecFileException.class, () -> SpecFile.read(dir.resolve("none.yaml")));
        assertEquals(dir.resolve("none.yaml") + ": no such file", missing.getMessage());
    }

    @Test
    void aNotANumberLearningRateReachesValidation() throws Exception {
        assertTrue(Double.isNaN(SpecFile.parse("learning_rate: .nan\n", "g.yaml").getLearningRate()));
    }
}
