package io.wattlab.trainer.data.transform;

import io.wattlab.trainer.data.ImageShape;

import java.util.random.RandomGenerator;

/**
 * Pads the image with {@code padding} zero pixels on every side and cuts out a window of the
 * original size at a random offset, so the content moves by up to {@code padding} pixels each way.
 * Training only. Padding happens before normalisation, so it is black, as in torchvision's recipe.
 *
 * @param padding pixels added on each side; 0 leaves images unchanged
 */
public record RandomCrop(int padding) implements ImageTransform {

    public RandomCrop {
        if (padding < 0) {
            throw new IllegalArgumentException("crop padding must not be negative, got " + padding);
        }
    }

    @Override
    public ImageShape outputShape(ImageShape input) {
        return input;
    }

    @Override
    public void apply(float[] src, ImageShape input, float[] dst, RandomGenerator random) {
        int top = random.nextInt(2 * padding + 1);
        int left = random.nextInt(2 * padding + 1);
        crop(src, input, dst, top, left);
    }

    /**
     * Writes the window whose top-left corner sits at ({@code top}, {@code left}) of the padded image.
     * With {@code top = left = padding} the output equals the input.
     */
    void crop(float[] src, ImageShape input, float[] dst, int top, int left) {
        int height = input.height();
        int width = input.width();
        int dy = top - padding;
        int dx = left - padding;
        for (int c = 0; c < input.channels(); c++) {
            int plane = c * height * width;
            for (int y = 0; y < height; y++) {
                int sy = y + dy;
                for (int x = 0; x < width; x++) {
                    int sx = x + dx;
                    boolean inside = sy >= 0 && sy < height && sx >= 0 && sx < width;
                    dst[plane + y * width + x] = inside ? src[plane + sy * width + sx] : 0f;
                }
            }
        }
    }

    @Override
    public boolean trainingOnly() {
        return true;
    }
}
