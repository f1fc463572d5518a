package io.wattlab.trainer.data.transform;

import io.wattlab.trainer.data.ImageShape;

import java.util.Arrays;
import java.util.random.RandomGenerator;

/**
 * Subtracts a mean and divides by a standard deviation per channel, {@code (x - mean[c]) / std[c]},
 * on values already scaled to [0, 1]. One value given applies to every channel.
 *
 * @param mean per channel, or one for all
 * @param std  per channel, or one for all; each positive
 */
public record Normalize(float[] mean, float[] std) implements ImageTransform {

    public Normalize {
        if (mean.length == 0 || mean.length != std.length) {
            throw new IllegalArgumentException("normalize needs as many means as standard deviations, got "
                    + Arrays.toString(mean) + " and " + Arrays.toString(std));
        }
        for (float s : std) {
            if (!(s > 0)) {
                throw new IllegalArgumentException("standard deviations must be positive, got " + Arrays.toString(std));
            }
        }
        mean = mean.clone();
        std = std.clone();
    }

    @Override
    public float[] mean() {
        return mean.clone();
    }

    @Override
    public float[] std() {
        return std.clone();
    }

    @Override
    public ImageShape outputShape(ImageShape input) {
        if (mean.length != 1 && mean.length != input.channels()) {
            throw new IllegalArgumentException("normalize has " + mean.length + " channel means but the images are "
                    + input + " (channels × height × width)");
        }
        return input;
    }

    @Override
    public void apply(float[] src, ImageShape input, float[] dst, RandomGenerator random) {
        int plane = input.planeLength();
        for (int c = 0; c < input.channels(); c++) {
            float m = mean[mean.length == 1 ? 0 : c];
            float s = std[std.length == 1 ? 0 : c];
            int base = c * plane;
            for (int i = base; i < base + plane; i++) {
                dst[i] = (src[i] - m) / s;
            }
        }
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof Normalize that && Arrays.equals(mean, that.mean) && Arrays.equals(std, that.std);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(mean) + Arrays.hashCode(std);
    }

    @Override
    public String toString() {
        return "Normalize[mean=" + Arrays.toString(mean) + ", std=" + Arrays.toString(std) + "]";
    }
}
