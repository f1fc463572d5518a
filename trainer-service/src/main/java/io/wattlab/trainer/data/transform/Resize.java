package io.wattlab.trainer.data.transform;

import io.wattlab.trainer.data.ImageShape;

import java.util.random.RandomGenerator;

/**
 * Resizes every channel to {@code height × width} by bilinear interpolation with pixel centres at
 * half-integers. Shrinking widens the triangle filter by the scale factor, as PIL and torchvision
 * (antialias on) do, so a large image brought down to a small model does not alias; enlarging is
 * plain bilinear, with edges clamped.
 *
 * @param height output rows
 * @param width  output columns
 */
public record Resize(int height, int width) implements ImageTransform {

    public Resize {
        if (height <= 0 || width <= 0) {
            throw new IllegalArgumentException("resize target must be positive, got " + height + "×" + width);
        }
    }

    @Override
    public ImageShape outputShape(ImageShape input) {
        return input.withSize(height, width);
    }

    @Override
    public void apply(float[] src, ImageShape input, float[] dst, RandomGenerator random) {
        resample(src, input, dst, height, width);
    }

    /** Resizes {@code src} (shape {@code input}) into {@code dst} ({@code input.channels() × outHeight × outWidth}). */
    public static void resample(float[] src, ImageShape input, float[] dst, int outHeight, int outWidth) {
        int channels = input.channels();
        int inHeight = input.height();
        int inWidth = input.width();
        if (inHeight == outHeight && inWidth == outWidth) {
            System.arraycopy(src, 0, dst, 0, input.length());
            return;
        }
        Taps across = Taps.of(inWidth, outWidth);
        Taps down = Taps.of(inHeight, outHeight);
        // Rows first, into a buffer of inHeight × outWidth per channel, then columns.
        float[] rows = new float[inHeight * outWidth];
        for (int c = 0; c < channels; c++) {
            int srcPlane = c * inHeight * inWidth;
            for (int y = 0; y < inHeight; y++) {
                int srcRow = srcPlane + y * inWidth;
                for (int x = 0; x < outWidth; x++) {
                    rows[y * outWidth + x] = across.sample(src, srcRow, 1, x);
                }
            }
            int dstPlane = c * outHeight * outWidth;
            for (int y = 0; y < outHeight; y++) {
                for (int x = 0; x < outWidth; x++) {
                    dst[dstPlane + y * outWidth + x] = down.sample(rows, x, outWidth, y);
                }
            }
        }
    }

    /** For each output position along one axis, the input positions it reads and their weights. */
    private record Taps(int[] first, int[] count, float[] weights, int maxTaps) {

        static Taps of(int in, int out) {
            double scale = (double) in / out;
            double support = Math.max(scale, 1.0);
            int maxTaps = (int) Math.ceil(support) * 2 + 1;
            int[] first = new int[out];
            int[] count = new int[out];
            float[] weights = new float[out * maxTaps];
            for (int o = 0; o < out; o++) {
                double centre = (o + 0.5) * scale;
                int lo = Math.max(0, (int) Math.floor(centre - support));
                int hi = Math.min(in - 1, (int) Math.ceil(centre + support));
                double[] w = new double[hi - lo + 1];
                double sum = 0;
                for (int i = lo; i <= hi; i++) {
                    double distance = Math.abs((i + 0.5 - centre) / support);
                    double weight = Math.max(0, 1 - distance);
                    w[i - lo] = weight;
                    sum += weight;
                }
                // Drop zero weights at both ends so the tap list is tight.
                int start = 0;
                int end = w.length - 1;
                while (start < end && w[start] == 0) {
                    start++;
                }
                while (end > start && w[end] == 0) {
                    end--;
                }
                first[o] = lo + start;
                count[o] = end - start + 1;
                for (int k = 0; k < count[o]; k++) {
                    weights[o * maxTaps + k] = (float) (w[start + k] / sum);
                }
            }
            return new Taps(first, count, weights, maxTaps);
        }

        float sample(float[] data, int base, int stride, int o) {
            float sum = 0;
            int at = base + first[o] * stride;
            int w = o * maxTaps;
            for (int k = 0; k < count[o]; k++) {
                sum += data[at] * weights[w + k];
                at += stride;
            }
            return sum;
        }
    }
}
