package io.wattlab.trainer.data.transform;

import io.wattlab.trainer.data.ImageShape;

import java.util.random.RandomGenerator;

/**
 * One step applied to each image on its way from a dataset to a model: it reads an image of one
 * shape (CHW floats) and writes an image of the shape {@link #outputShape} gives.
 */
public interface ImageTransform {

    /**
     * The shape this step produces from {@code input}.
     *
     * @throws IllegalArgumentException where the step cannot take such an image; the message says why
     */
    ImageShape outputShape(ImageShape input);

    /**
     * Writes the transformed image into {@code dst} from index 0. Must not keep state between calls:
     * batches are prepared on a background thread.
     *
     * @param src    the input image, CHW, first {@code input.length()} values used
     * @param input  its shape
     * @param dst    at least {@code outputShape(input).length()} values; never the same array as src
     * @param random the source of any random choice; steps that make none ignore it
     */
    void apply(float[] src, ImageShape input, float[] dst, RandomGenerator random);

    /** True for augmentations, which run on training batches only and never at evaluation. */
    default boolean trainingOnly() {
        return false;
    }
}
