package io.wattlab.trainer.data.batch;

import io.wattlab.trainer.data.ImageShape;

import java.nio.FloatBuffer;

/**
 * One batch of images and labels in the layout an ONNX Runtime session takes: images as floats in
 * NCHW order, labels as int64.
 *
 * @param epoch      the epoch it belongs to
 * @param index      its position within the epoch, from 0
 * @param images     {@code size() × imageShape.length()} values
 * @param labels     one class index per image
 * @param imageShape the shape of each image
 * @param indices    each image's index in its split, which tells one image's results from
 *                   another's across epochs (such as a teacher's logits kept for it)
 */
public record Batch(int epoch, int index, float[] images, long[] labels, ImageShape imageShape, int[] indices) {

    public Batch {
        if (indices.length != labels.length) {
            throw new IllegalArgumentException(labels.length + " labels need as many split indices, got "
                    + indices.length);
        }
        if ((long) labels.length * imageShape.length() != images.length) {
            throw new IllegalArgumentException(labels.length + " labels of " + imageShape + " images need "
                    + (long) labels.length * imageShape.length() + " floats, got " + images.length);
        }
    }

    /** Number of images. */
    public int size() {
        return labels.length;
    }

    /** {@code [N, C, H, W]}, the shape to give the image tensor. */
    public long[] imagesTensorShape() {
        return new long[] {labels.length, imageShape.channels(), imageShape.height(), imageShape.width()};
    }

    /** {@code [N]}, the shape to give the label tensor. */
    public long[] labelsTensorShape() {
        return new long[] {labels.length};
    }

    /** The images wrapped, not copied, for {@code OnnxTensor.createTensor(env, buffer, shape)}. */
    public FloatBuffer imagesBuffer() {
        return FloatBuffer.wrap(images);
    }
}
