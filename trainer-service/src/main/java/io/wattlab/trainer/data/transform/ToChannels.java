package io.wattlab.trainer.data.transform;

import io.wattlab.trainer.data.ImageShape;

import java.util.random.RandomGenerator;

/**
 * Converts between grayscale and RGB so a dataset can feed a model with the other channel count:
 * RGB to gray by ITU-R BT.601 luma ({@code 0.299 R + 0.587 G + 0.114 B}, as PIL's "L" mode does),
 * gray to RGB by repeating the one channel.
 *
 * @param channels 1 or 3
 */
public record ToChannels(int channels) implements ImageTransform {

    public ToChannels {
        if (channels != 1 && channels != 3) {
            throw new IllegalArgumentException("can convert images to 1 or 3 channels, not " + channels);
        }
    }

    @Override
    public ImageShape outputShape(ImageShape input) {
        if (input.channels() != 1 && input.channels() != 3) {
            throw new IllegalArgumentException("can convert 1- or 3-channel images, not " + input);
        }
        return input.withChannels(channels);
    }

    @Override
    public void apply(float[] src, ImageShape input, float[] dst, RandomGenerator random) {
        int plane = input.planeLength();
        if (input.channels() == channels) {
            System.arraycopy(src, 0, dst, 0, input.length());
        } else if (channels == 1) {
            for (int i = 0; i < plane; i++) {
                dst[i] = 0.299f * src[i] + 0.587f * src[plane + i] + 0.114f * src[2 * plane + i];
            }
        } else {
            for (int c = 0; c < 3; c++) {
                System.arraycopy(src, 0, dst, c * plane, plane);
            }
        }
    }
}
