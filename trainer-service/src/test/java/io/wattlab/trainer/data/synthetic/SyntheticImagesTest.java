package io.wattlab.trainer.data.synthetic;

import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetException;
import io.wattlab.trainer.data.DatasetSpec;
import io.wattlab.trainer.data.Datasets;
import io.wattlab.trainer.data.ImageShape;
import io.wattlab.trainer.data.Split;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SyntheticImagesTest {

    private static SyntheticImages.Config config(SyntheticImages.Difficulty difficulty, long seed) {
        return new SyntheticImages.Config(10, new ImageShape(3, 16, 16), 500, 200, difficulty, seed);
    }

    private static float[] all(Split split, long[] labels) {
        int[] indices = new int[split.size()];
        for (int i = 0; i < indices.length; i++) {
            indices[i] = i;
        }
        float[] images = new float[indices.length * split.imageShape().length()];
        split.fill(indices, images, labels, 0);
        return images;
    }

    /** Share of test images whose nearest training-class mean (raw pixels, squared distance) is their class. */
    static double nearestClassMeanAccuracy(Dataset dataset) {
        Split train = dataset.train();
        Split test = dataset.test();
        int length = train.imageShape().length();
        int classes = dataset.numClasses();
        long[] trainLabels = new long[train.size()];
        float[] trainImages = all(train, trainLabels);
        double[][] means = new double[classes][length];
        int[] counts = new int[classes];
        for (int i = 0; i < train.size(); i++) {
            int label = (int) trainLabels[i];
            counts[label]++;
            for (int p = 0; p < length; p++) {
                means[label][p] += trainImages[i * length + p];
            }
        }
        for (int c = 0; c < classes; c++) {
            for (int p = 0; p < length; p++) {
                means[c][p] /= counts[c];
            }
        }
        long[] testLabels = new long[test.size()];
        float[] testImages = all(test, testLabels);
        int correct = 0;
        for (int i = 0; i < test.size(); i++) {
            int best = -1;
            double bestDistance = Double.MAX_VALUE;
            for (int c = 0; c < classes; c++) {
                double distance = 0;
                for (int p = 0; p < length; p++) {
                    double d = testImages[i * length + p] - means[c][p];
                    distance += d * d;
                }
                if (distance < bestDistance) {
                    bestDistance = distance;
                    best = c;
                }
            }
            if (best == testLabels[i]) {
                correct++;
            }
        }
        return (double) correct / test.size();
    }

    @Test
    void theSameSeedGivesTheSameImagesAndAnotherSeedOthers() {
        Dataset a = SyntheticImages.generate(config(SyntheticImages.Difficulty.MEDIUM, 7));
        Dataset b = SyntheticImages.generate(config(SyntheticImages.Difficulty.MEDIUM, 7));
        Dataset c = SyntheticImages.generate(config(SyntheticImages.Difficulty.MEDIUM, 8));
        long[] labelsA = new long[500];
        long[] labelsB = new long[500];
        float[] imagesA = all(a.train(), labelsA);
        assertArrayEquals(imagesA, all(b.train(), labelsB));
        assertArrayEquals(labelsA, labelsB);
        assertFalse(Arrays.equals(imagesA, all(c.train(), new long[500])));
        assertFalse(Arrays.equals(all(a.test(), new long[200]), Arrays.copyOf(imagesA, 200 * 768)),
                "test images are not the training images again");
    }

    @Test
    void classesAreBalanced() {
        Dataset dataset = SyntheticImages.generate(config(SyntheticImages.Difficulty.EASY, 1));
        int[] counts = new int[10];
        for (int i = 0; i < dataset.train().size(); i++) {
            counts[dataset.train().label(i)]++;
        }
        int[] fifty = new int[10];
        Arrays.fill(fifty, 50);
        assertArrayEquals(fifty, counts);
    }

    @Test
    void easyIsLearnableByNearestClassMeanAndHardIsHarder() {
        double easy = nearestClassMeanAccuracy(SyntheticImages.generate(config(SyntheticImages.Difficulty.EASY, 3)));
        double hard = nearestClassMeanAccuracy(SyntheticImages.generate(config(SyntheticImages.Difficulty.HARD, 3)));
        assertTrue(easy > 0.9, "easy accuracy " + easy);
        assertTrue(hard < easy, "hard " + hard + " vs easy " + easy);
        assertTrue(hard > 0.2, "hard is still above chance (0.1): " + hard);
    }

    @Test
    void grayscaleAndOtherSizesWorkThroughTheFactory() throws DatasetException {
        Dataset dataset = Datasets.open(new DatasetSpec("synthetic", null, java.util.Map.of(
                "classes", "3", "size", "8x12", "channels", "1", "train", "30", "test", "9", "difficulty", "easy", "seed", "4")));
        assertEquals(new ImageShape(1, 8, 12), dataset.imageShape());
        assertEquals(3, dataset.numClasses());
        assertEquals(30, dataset.train().size());
        assertEquals(9, dataset.test().size());
        assertTrue(nearestClassMeanAccuracy(dataset) > 0.9);

        DatasetException badDifficulty = assertThrows(DatasetException.class, () -> Datasets.open(
                DatasetSpec.of("synthetic", null).with("difficulty", "extreme")));
        assertTrue(badDifficulty.getMessage().contains("difficulty=extreme") && badDifficulty.getMessage().contains("easy, medium, hard"),
                badDifficulty.getMessage());
        DatasetException oneClass = assertThrows(DatasetException.class, () -> Datasets.open(
                DatasetSpec.of("synthetic", null).with("classes", "1")));
        assertTrue(oneClass.getMessage().contains("option classes=1"), oneClass.getMessage());
    }
}
