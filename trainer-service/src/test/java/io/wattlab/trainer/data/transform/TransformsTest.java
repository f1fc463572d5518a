package io.wattlab.trainer.data.transform;

import io.wattlab.trainer.data.ImageShape;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TransformsTest {

    private static final float EPS = 1e-6f;

    private static float[] run(ImageTransform step, float[] src, ImageShape shape, long seed) {
        float[] dst = new float[step.outputShape(shape).length()];
        step.apply(src, shape, dst, new SplittableRandom(seed));
        return dst;
    }

    @Test
    void enlargingARowInterpolatesBetweenPixelCentres() {
        // Output centres at 0.25, 0.75, 1.25, 1.75 input pixels: the ends clamp, the middle mixes 3:1.
        float[] out = run(new Resize(1, 4), new float[] {0f, 1f}, new ImageShape(1, 1, 2), 0);
        assertArrayEquals(new float[] {0f, 0.25f, 0.75f, 1f}, out, EPS);
    }

    @Test
    void enlargingInTwoDimensionsMixesRowsAndColumns() {
        // [[0, 1], [2, 3]] to 4×4: pixel (1, 1) is 3/4·3/4·0 + 3/4·1/4·1 + 1/4·3/4·2 + 1/4·1/4·3.
        float[] out = run(new Resize(4, 4), new float[] {0f, 1f, 2f, 3f}, new ImageShape(1, 2, 2), 0);
        assertEquals(0.1875f + 0.375f + 0.1875f, out[1 * 4 + 1], EPS);
        assertEquals(0f, out[0], EPS);
        assertEquals(3f, out[15], EPS);
        assertEquals(2f, out[3 * 4], EPS);
    }

    @Test
    void shrinkingWidensTheFilterSoEveryInputPixelCounts() {
        // 4 → 2, scale 2: output 0 is centred at 1.0 and reaches 2 pixels either side; input centres
        // 0.5, 1.5, 2.5 sit 0.25, 0.25, 0.75 filter widths away, weights 0.75, 0.75, 0.25 over 1.75.
        float[] out = run(new Resize(1, 2), new float[] {0.1f, 0.2f, 0.3f, 0.4f}, new ImageShape(1, 1, 4), 0);
        assertEquals((0.75f * 0.1f + 0.75f * 0.2f + 0.25f * 0.3f) / 1.75f, out[0], EPS);
        assertEquals((0.25f * 0.2f + 0.75f * 0.3f + 0.75f * 0.4f) / 1.75f, out[1], EPS);
    }

    @Test
    void resizingToTheSameSizeChangesNothingAndKeepsChannelsApart() {
        float[] src = {1, 2, 3, 4, 5, 6, 7, 8};
        assertArrayEquals(src, run(new Resize(2, 2), src, new ImageShape(2, 2, 2), 0), EPS);
        float[] constantPlanes = {0.2f, 0.2f, 0.2f, 0.2f, 0.9f, 0.9f, 0.9f, 0.9f};
        float[] enlarged = run(new Resize(3, 5), constantPlanes, new ImageShape(2, 2, 2), 0);
        for (int i = 0; i < 15; i++) {
            assertEquals(0.2f, enlarged[i], EPS);
            assertEquals(0.9f, enlarged[15 + i], EPS);
        }
    }

    @Test
    void normalizeSubtractsTheMeanAndDividesByTheDeviationPerChannel() {
        Normalize normalize = new Normalize(new float[] {0.5f, 0.25f}, new float[] {0.5f, 0.25f});
        float[] out = run(normalize, new float[] {1f, 0f, 0.5f, 0.75f}, new ImageShape(2, 1, 2), 0);
        assertArrayEquals(new float[] {1f, -1f, 1f, 2f}, out, EPS);
        Normalize single = new Normalize(new float[] {0.5f}, new float[] {0.5f});
        assertArrayEquals(new float[] {1f, -1f, 0f, 0.5f},
                run(single, new float[] {1f, 0f, 0.5f, 0.75f}, new ImageShape(2, 1, 2), 0), EPS);
        IllegalArgumentException wrong = assertThrows(IllegalArgumentException.class,
                () -> normalize.outputShape(new ImageShape(3, 4, 4)));
        assertTrue(wrong.getMessage().contains("2 channel means but the images are 3×4×4"), wrong.getMessage());
    }

    @Test
    void cropAtTheCornerOfThePaddingShiftsContentAndFillsZeros() {
        // 1×2×2 [[a, b], [c, d]] padded by 1 is 4×4; the window at (0, 0) shows [[0, 0], [0, a]].
        RandomCrop crop = new RandomCrop(1);
        ImageShape shape = new ImageShape(1, 2, 2);
        float[] src = {1f, 2f, 3f, 4f};
        float[] dst = new float[4];
        crop.crop(src, shape, dst, 0, 0);
        assertArrayEquals(new float[] {0f, 0f, 0f, 1f}, dst, EPS);
        crop.crop(src, shape, dst, 2, 1);
        assertArrayEquals(new float[] {3f, 4f, 0f, 0f}, dst, EPS);
        crop.crop(src, shape, dst, 1, 1);
        assertArrayEquals(src, dst, EPS);
    }

    @Test
    void randomCropReachesEveryOffsetAndIsFixedBySeed() {
        RandomCrop crop = new RandomCrop(2);
        ImageShape shape = new ImageShape(1, 5, 5);
        float[] src = new float[25];
        for (int i = 0; i < 25; i++) {
            src[i] = i + 1;
        }
        Set<List<Float>> outcomes = new HashSet<>();
        for (long seed = 0; seed < 400; seed++) {
            float[] out = run(crop, src, shape, seed);
            assertArrayEquals(out, run(crop, src, shape, seed), EPS);
            // The centre pixel (value 13) moves by at most 2 each way, so it is always in the window.
            List<Float> values = new java.util.ArrayList<>();
            for (float v : out) {
                values.add(v);
            }
            assertTrue(values.contains(13f));
            outcomes.add(values);
        }
        assertEquals(25, outcomes.size(), "5 vertical × 5 horizontal offsets");
    }

    @Test
    void flipMirrorsEachRowOfEachChannelAboutHalfTheTime() {
        ImageShape shape = new ImageShape(2, 2, 3);
        float[] src = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        float[] mirrored = {3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10};
        int flips = 0;
        for (long seed = 0; seed < 200; seed++) {
            float[] out = run(new RandomHorizontalFlip(), src, shape, seed);
            if (out[0] == 3f) {
                assertArrayEquals(mirrored, out, EPS);
                flips++;
            } else {
                assertArrayEquals(src, out, EPS);
            }
        }
        assertTrue(flips > 70 && flips < 130, "flipped " + flips + " of 200");
    }

    @Test
    void channelConversionUsesLumaOneWayAndRepeatsTheOther() {
        ImageShape rgb = new ImageShape(3, 1, 2);
        float[] gray = run(new ToChannels(1), new float[] {1f, 0f, 0f, 1f, 0f, 0.5f}, rgb, 0);
        assertArrayEquals(new float[] {0.299f, 0.587f + 0.5f * 0.114f}, gray, EPS);
        float[] back = run(new ToChannels(3), new float[] {0.25f, 0.5f}, new ImageShape(1, 1, 2), 0);
        assertArrayEquals(new float[] {0.25f, 0.5f, 0.25f, 0.5f, 0.25f, 0.5f}, back, EPS);
    }

    @Test
    void evaluationDropsOnlyTheAugmentationsAndShapesFollowTheSteps() {
        Transforms training = Transforms.of(new ToChannels(1), new Resize(28, 28), new RandomCrop(4),
                new RandomHorizontalFlip(), new Normalize(new float[] {0.5f}, new float[] {0.25f}));
        Transforms evaluation = training.forEvaluation();
        assertEquals(List.of(new ToChannels(1), new Resize(28, 28), new Normalize(new float[] {0.5f}, new float[] {0.25f})),
                evaluation.steps());
        assertEquals(new ImageShape(1, 28, 28), training.outputShape(new ImageShape(3, 32, 32)));
        assertEquals(3 * 32 * 32, training.largestStage(new ImageShape(3, 32, 32)));
        assertFalse(evaluation.steps().stream().anyMatch(ImageTransform::trainingOnly));
    }
}
