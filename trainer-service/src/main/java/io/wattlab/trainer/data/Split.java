package io.wattlab.trainer.data;

import io.wattlab.trainer.data.transform.ImageTransform;
import io.wattlab.trainer.data.transform.Transforms;

import java.util.Objects;
import java.util.SplittableRandom;

/**
 * The training or test part of a dataset, seen through its transforms: it knows its size and labels
 * and writes batches of images as floats in NCHW order, ready for an ONNX Runtime tensor. Safe to
 * use from several threads at once.
 */
public final class Split {

    private final String name;
    private final ImageSet images;
    private final Transforms transforms;
    private final ImageShape imageShape;

    /**
     * @param name       for messages, such as {@code cifar10/train}
     * @param images     the stored images
     * @param transforms the steps every image goes through; pass {@link Transforms#forEvaluation()}
     *                   for a split that must not be augmented
     */
    public Split(String name, ImageSet images, Transforms transforms) {
        this.name = Objects.requireNonNull(name, "name");
        this.images = Objects.requireNonNull(images, "images");
        this.transforms = Objects.requireNonNull(transforms, "transforms");
        this.imageShape = transforms.outputShape(images.shape());
    }

    public String name() {
        return name;
    }

    public int size() {
        return images.size();
    }

    public int label(int index) {
        return images.label(index);
    }

    /** The shape of one image after the transforms: what {@link #fill} writes per index. */
    public ImageShape imageShape() {
        return imageShape;
    }

    /** True when random augmentations run on this split. */
    public boolean augmented() {
        return transforms.steps().stream().anyMatch(ImageTransform::trainingOnly);
    }

    public Transforms transforms() {
        return transforms;
    }

    /** Writes the images and labels at {@code indices}, as {@link #fill(int[], int, int, float[], long[], long)}. */
    public void fill(int[] indices, float[] images, long[] labels, long augmentSeed) {
        fill(indices, 0, indices.length, images, labels, augmentSeed);
    }

    /**
     * Writes the images at {@code indices[from .. from + count)} one after another into {@code images}
     * (NCHW, {@code imageShape().length()} values each) and their labels into {@code labels}.
     *
     * @param augmentSeed fixes every random choice of the augmentations for this batch, so a batch
     *                    comes out the same whichever thread prepares it
     */
    public void fill(int[] indices, int from, int count, float[] images, long[] labels, long augmentSeed) {
        int outLength = imageShape.length();
        if (images.length < (long) count * outLength || labels.length < count) {
            throw new IllegalArgumentException(count + " images of " + imageShape + " need " + (long) count * outLength
                    + " floats and " + count + " labels, got buffers of " + images.length + " and " + labels.length);
        }
        ImageShape stored = this.images.shape();
        int scratch = transforms.largestStage(stored);
        float[] a = new float[scratch];
        float[] b = new float[scratch];
        SplittableRandom random = new SplittableRandom(augmentSeed);
        for (int i = 0; i < count; i++) {
            int index = indices[from + i];
            if (index < 0 || index >= size()) {
                throw new IndexOutOfBoundsException("index " + index + " is outside " + name + " (size " + size() + ")");
            }
            this.images.read(index, a, 0);
            ImageShape shape = stored;
            for (ImageTransform step : transforms.steps()) {
                ImageShape next = step.outputShape(shape);
                step.apply(a, shape, b, random);
                float[] swap = a;
                a = b;
                b = swap;
                shape = next;
            }
            System.arraycopy(a, 0, images, i * outLength, outLength);
            labels[i] = this.images.label(index);
        }
    }

    /** Mean and standard deviation of each stored channel over the whole split, on the [0, 1] scale. */
    public Normalization channelStatistics() {
        ImageShape shape = images.shape();
        int plane = shape.planeLength();
        double[] sum = new double[shape.channels()];
        double[] sumSquares = new double[shape.channels()];
        for (int i = 0; i < images.size(); i++) {
            for (int c = 0; c < shape.channels(); c++) {
                for (int p = 0; p < plane; p++) {
                    double v = images.pixel(i, c * plane + p) / 255.0;
                    sum[c] += v;
                    sumSquares[c] += v * v;
                }
            }
        }
        float[] mean = new float[shape.channels()];
        float[] std = new float[shape.channels()];
        double n = (double) images.size() * plane;
        for (int c = 0; c < mean.length; c++) {
            double m = n == 0 ? 0 : sum[c] / n;
            double variance = n == 0 ? 0 : Math.max(0, sumSquares[c] / n - m * m);
            mean[c] = (float) m;
            std[c] = (float) Math.sqrt(variance);
        }
        return new Normalization(mean, std);
    }

    /**
     * Per-channel statistics of a split, to build a {@link io.wattlab.trainer.data.transform.Normalize} from.
     *
     * @param mean per channel
     * @param std  per channel (population standard deviation)
     */
    public record Normalization(float[] mean, float[] std) {

        /** The normalisation step these statistics call for; a constant channel keeps a deviation of 1. */
        public io.wattlab.trainer.data.transform.Normalize asTransform() {
            float[] safeStd = std.clone();
            for (int c = 0; c < safeStd.length; c++) {
                if (!(safeStd[c] > 0)) {
                    safeStd[c] = 1f;
                }
            }
            return new io.wattlab.trainer.data.transform.Normalize(mean, safeStd);
        }
    }

    @Override
    public String toString() {
        return name + " (" + size() + " images of " + imageShape + ")";
    }
}
