package io.wattlab.trainer.data;

/**
 * The shape of one image as a tensor in CHW order: channels, then rows, then columns.
 *
 * @param channels 1 for grayscale, 3 for RGB
 * @param height   rows
 * @param width    columns
 */
public record ImageShape(int channels, int height, int width) {

    public ImageShape {
        if (channels <= 0 || height <= 0 || width <= 0) {
            throw new IllegalArgumentException(
                    "image shape must be positive, got " + channels + "×" + height + "×" + width);
        }
    }

    /** Number of values in one image: channels × height × width. */
    public int length() {
        return channels * height * width;
    }

    /** Values in one channel plane: height × width. */
    public int planeLength() {
        return height * width;
    }

    public ImageShape withChannels(int newChannels) {
        return new ImageShape(newChannels, height, width);
    }

    public ImageShape withSize(int newHeight, int newWidth) {
        return new ImageShape(channels, newHeight, newWidth);
    }

    /** Written the way error messages show it, {@code 3×32×32}. */
    @Override
    public String toString() {
        return channels + "×" + height + "×" + width;
    }
}
