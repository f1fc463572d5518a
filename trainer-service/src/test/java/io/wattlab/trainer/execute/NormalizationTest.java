package io.wattlab.trainer.execute;

import io.wattlab.proto.v1.NormalizeSpec;
import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetSpec;
import io.wattlab.trainer.data.Datasets;
import io.wattlab.trainer.data.Split;
import io.wattlab.trainer.data.transform.Normalize;
import io.wattlab.trainer.data.transform.Transforms;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The spec's normalisation presets become the transform the run's images go through. */
class NormalizationTest {

    @Test
    void presetsGiveTheirMeansAndDeviations() throws Exception {
        Split train = Datasets.open(new DatasetSpec("synthetic", null, Map.of("train", "64", "test", "16"))).train();
        assertTrue(RunExecution.normalization(NormalizeSpec.newBuilder().setPreset("none").build(), train).isEmpty());
        assertEquals(new Normalize(new float[] {0.485f, 0.456f, 0.406f}, new float[] {0.229f, 0.224f, 0.225f}),
                RunExecution.normalization(NormalizeSpec.newBuilder().setPreset("imagenet").build(), train).get());
        assertEquals(new Normalize(new float[] {0.5f}, new float[] {0.25f}),
                RunExecution.normalization(NormalizeSpec.newBuilder().setPreset("custom").addMean(0.5).addStd(0.25)
                        .build(), train).get());
    }

    @Test
    void theDatasetPresetCentresTheTrainingSplit() throws Exception {
        Dataset d = Datasets.open(new DatasetSpec("synthetic", null, Map.of("train", "64", "test", "16")));
        Normalize n = RunExecution.normalization(NormalizeSpec.newBuilder().setPreset("dataset").build(), d.train())
                .orElseThrow();
        Split normalized = d.withTransforms(new Transforms(List.of(n))).train();
        int count = normalized.size();
        int length = normalized.imageShape().length();
        float[] images = new float[count * length];
        normalized.fill(IntStream.range(0, count).toArray(), images, new long[count], 0);
        int plane = normalized.imageShape().planeLength();
        for (int c = 0; c < normalized.imageShape().channels(); c++) {
            double sum = 0;
            double squares = 0;
            for (int i = 0; i < count; i++) {
                for (int p = 0; p < plane; p++) {
                    double v = images[i * length + c * plane + p];
                    sum += v;
                    squares += v * v;
                }
            }
            double mean = sum / (count * plane);
            assertEquals(0, mean, 1e-4, "channel " + c + " mean");
            assertEquals(1, Math.sqrt(squares / (count * plane) - mean * mean), 1e-3, "channel " + c + " deviation");
        }
        assertArrayEquals(n.mean(), d.train().channelStatistics().mean());
    }
}
