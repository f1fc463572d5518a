package io.wattlab.trainer.data.transform;

import io.wattlab.trainer.data.ImageShape;

import java.util.ArrayList;
import java.util.List;

/**
 * The steps each image goes through between a dataset and a model, in order. Training batches run
 * every step; evaluation batches skip the {@linkplain ImageTransform#trainingOnly() augmentations}.
 * The usual order is channels, resize, crop, flip, normalise.
 *
 * @param steps applied first to last
 */
public record Transforms(List<ImageTransform> steps) {

    public Transforms {
        steps = List.copyOf(steps);
    }

    /** No steps: images reach the model as stored, scaled to [0, 1]. */
    public static Transforms none() {
        return new Transforms(List.of());
    }

    public static Transforms of(ImageTransform... steps) {
        return new Transforms(List.of(steps));
    }

    /** These steps followed by {@code step}. */
    public Transforms then(ImageTransform step) {
        List<ImageTransform> more = new ArrayList<>(steps);
        more.add(step);
        return new Transforms(more);
    }

    /** The steps an evaluation batch runs: all but the augmentations. */
    public Transforms forEvaluation() {
        return new Transforms(steps.stream().filter(step -> !step.trainingOnly()).toList());
    }

    /**
     * The shape images of shape {@code input} leave with.
     *
     * @throws IllegalArgumentException where a step cannot take the shape the step before it gives
     */
    public ImageShape outputShape(ImageShape input) {
        ImageShape shape = input;
        for (ImageTransform step : steps) {
            shape = step.outputShape(shape);
        }
        return shape;
    }

    /** The most values any stage holds for one input image, to size scratch buffers. */
    public int largestStage(ImageShape input) {
        int largest = input.length();
        ImageShape shape = input;
        for (ImageTransform step : steps) {
            shape = step.outputShape(shape);
            largest = Math.max(largest, shape.length());
        }
        return largest;
    }
}
