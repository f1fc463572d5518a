package io.wattlab.trainer.data.transform;

import io.wattlab.trainer.data.ImageShape;

import java.util.random.RandomGenerator;

/**
 * Mirrors the image left to right with probability one half. Training only.
 */
public record RandomHorizontalFlip() implements ImageTransform {

    @Override
    public ImageShape outputShape(ImageShape input) {
        return input;
    }

    @Override
    public void apply(float[] src, ImageShape input, float[] dst, RandomGenerator random) {
        if (random.nextBoolean()) {
            mirror(src, input, dst);
        } else {
            System.arraycopy(src, 0, dst, 0, input.length());
        }
    }

    static void mirror(float[] src, ImageShape input, float[] dst) {
        int width = input.width();
        int rows = input.channels() * input.height();
        for (int r = 0; r < rows; r++) {
            int base = r * width;
            for (int x = 0; x < width; x++) {
                dst[base + x] = src[base + width - 1 - x];
            }
        }
    }

    @Override
    public boolean trainingOnly() {
        return true;
    }
}
