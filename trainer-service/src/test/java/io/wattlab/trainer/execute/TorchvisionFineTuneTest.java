package io.wattlab.trainer.execute;

import io.wattlab.proto.v1.DatasetSpec;
import io.wattlab.proto.v1.ModelSpec;
import io.wattlab.proto.v1.OptimizerSpec;
import io.wattlab.proto.v1.RunReport;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.Datasets;
import io.wattlab.trainer.data.Split;
import io.wattlab.trainer.metering.InProcessMeter;
import io.wattlab.trainer.run.CancelSignal;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A torchvision resnet18, exported by torch, fine-tunes on files in CIFAR-10's binary format. */
class TorchvisionFineTuneTest {

    @Test
    void resnet18FineTunesOnACifar10FileSetWithTheLossFalling() throws Exception {
        Path model = TestModels.export("resnet18", 32, 10);
        Path cifar = writeCifar10(Files.createTempDirectory(Files.createDirectories(Path.of("target", "cifar")), "set-"));
        Path runs = Files.createTempDirectory(Files.createDirectories(Path.of("target", "runs")), "resnet-");
        RunSpec spec = RunSpec.newBuilder()
                .setModel(ModelSpec.newBuilder().setOnnxPath(model.toString()))
                .setDataset(DatasetSpec.newBuilder().setFormat("cifar10").setPath(cifar.toString()))
                .setEpochs(3)
                .setBatchSize(32)
                .setLearningRate(0.01)
                .setOptimizer(OptimizerSpec.newBuilder().setName("sgd").setMomentum(0.9))
                .setSeed(1)
                .setIdleSeconds(0)
                .build();
        try (InProcessMeter meter = InProcessMeter.start(TestModels.configuration(Map.of()))) {
            TrainingRunExecutor executor = new TrainingRunExecutor(ExecutorSettings.defaults().withRunsDirectory(runs),
                    meter, new FileModelSource(), CarbonIntensities.none(), ModelFactsProvider.fromInitializers());
            RunReport report = executor.execute("resnet18", spec, new RecordingListener(), new CancelSignal());

            assertEquals(3, report.getEpochsCount());
            double first = report.getEpochs(0).getTrainLoss();
            double last = report.getEpochs(2).getTrainLoss();
            assertTrue(last < 0.8 * first, "train loss per epoch: " + report.getEpochsList().stream()
                    .map(e -> String.format("%.3f", e.getTrainLoss())).toList());
            assertEquals(10 * 32, report.getEpochs(0).getSamples());
            assertTrue(report.getModelBefore().getParameters() > 11_000_000, report.getModelBefore().toString());
            assertTrue(Files.size(Path.of(report.getTrainedModelPath())) > 40_000_000);
        }
    }

    /** 320 training images in the five data_batch files and 64 test images, from the easy synthetic generator. */
    static Path writeCifar10(Path dir) throws Exception {
        Dataset synthetic = Datasets.open(io.wattlab.trainer.data.DatasetSpec.of("synthetic", null)
                .with("classes", "10").with("size", "32").with("train", "320").with("test", "64")
                .with("difficulty", "easy").with("seed", "3"));
        byte[] train = records(synthetic.train());
        int perFile = train.length / 5;
        for (int i = 0; i < 5; i++) {
            write(dir.resolve("data_batch_" + (i + 1) + ".bin"), java.util.Arrays.copyOfRange(train, i * perFile, (i + 1) * perFile));
        }
        write(dir.resolve("test_batch.bin"), records(synthetic.test()));
        return dir;
    }

    /** CIFAR-10 records: one label byte, then 3×32×32 pixel bytes, channel planes in order. */
    private static byte[] records(Split split) {
        int length = split.imageShape().length();
        int[] all = java.util.stream.IntStream.range(0, split.size()).toArray();
        float[] images = new float[all.length * length];
        long[] labels = new long[all.length];
        split.fill(all, images, labels, 0);
        byte[] out = new byte[all.length * (1 + length)];
        for (int i = 0; i < all.length; i++) {
            int at = i * (1 + length);
            out[at] = (byte) labels[i];
            for (int p = 0; p < length; p++) {
                out[at + 1 + p] = (byte) Math.round(images[i * length + p] * 255);
            }
        }
        return out;
    }

    private static void write(Path file, byte[] bytes) throws IOException {
        Files.write(file, bytes);
    }
}
