package io.wattlab.trainer.data;

import java.util.List;
import java.util.Objects;

/**
 * Images held in memory as unsigned bytes in CHW order, one label per image, as a loader read them
 * from a dataset's files. Reads give values scaled to [0, 1]. Never modified after construction.
 */
public final class ImageSet {

    private final ImageShape shape;
    private final byte[] pixels;
    private final int[] labels;

    /**
     * @param shape  the shape of every image
     * @param pixels image after image, each {@code shape.length()} bytes in CHW order; kept, not copied
     * @param labels class index per image; kept, not copied
     */
    public ImageSet(ImageShape shape, byte[] pixels, int[] labels) {
        this.shape = Objects.requireNonNull(shape, "shape");
        this.pixels = Objects.requireNonNull(pixels, "pixels");
        this.labels = Objects.requireNonNull(labels, "labels");
        if ((long) labels.length * shape.length() != pixels.length) {
            throw new IllegalArgumentException(labels.length + " labels of " + shape + " images need "
                    + (long) labels.length * shape.length() + " pixel bytes, got " + pixels.length);
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0) {
                throw new IllegalArgumentException("label " + labels[i] + " at index " + i + " is negative");
            }
        }
    }

    public ImageShape shape() {
        return shape;
    }

    public int size() {
        return labels.length;
    }

    public int label(int index) {
        return labels[index];
    }

    /** The largest label plus one; 0 for an empty set. */
    public int labelBound() {
        int max = -1;
        for (int label : labels) {
            max = Math.max(max, label);
        }
        return max + 1;
    }

    /** The unsigned byte at {@code offset} within image {@code index}, 0..255. */
    public int pixel(int index, int offset) {
        return pixels[index * shape.length() + offset] & 0xff;
    }

    /** Writes image {@code index} into {@code dst} from {@code dstOffset}, each byte divided by 255. */
    public void read(int index, float[] dst, int dstOffset) {
        int length = shape.length();
        int base = index * length;
        for (int i = 0; i < length; i++) {
            dst[dstOffset + i] = (pixels[base + i] & 0xff) / 255f;
        }
    }

    /** A copy holding only the images at {@code indices}, in that order. */
    public ImageSet select(int[] indices) {
        int length = shape.length();
        byte[] picked = new byte[indices.length * length];
        int[] pickedLabels = new int[indices.length];
        for (int i = 0; i < indices.length; i++) {
            System.arraycopy(pixels, indices[i] * length, picked, i * length, length);
            pickedLabels[i] = labels[indices[i]];
        }
        return new ImageSet(shape, picked, pickedLabels);
    }

    /** The sets one after another; all must have the same shape. */
    public static ImageSet concat(List<ImageSet> parts) {
        if (parts.isEmpty()) {
            throw new IllegalArgumentException("nothing to concatenate");
        }
        ImageShape shape = parts.get(0).shape;
        long bytes = 0;
        int count = 0;
        for (ImageSet part : parts) {
            if (!part.shape.equals(shape)) {
                throw new IllegalArgumentException("cannot join " + shape + " and " + part.shape + " images");
            }
            bytes += part.pixels.length;
            count += part.labels.length;
        }
        if (bytes > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(count + " images of " + shape + " exceed one Java array");
        }
        byte[] pixels = new byte[(int) bytes];
        int[] labels = new int[count];
        int pixelAt = 0;
        int labelAt = 0;
        for (ImageSet part : parts) {
            System.arraycopy(part.pixels, 0, pixels, pixelAt, part.pixels.length);
            System.arraycopy(part.labels, 0, labels, labelAt, part.labels.length);
            pixelAt += part.pixels.length;
            labelAt += part.labels.length;
        }
        return new ImageSet(shape, pixels, labels);
    }
}
