package io.wattlab.trainer.data.synthetic;

import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.ImageSet;
import io.wattlab.trainer.data.ImageShape;
import io.wattlab.trainer.data.LoadReport;
import io.wattlab.trainer.data.Seeds;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Generates a learnable image-classification dataset from a seed, for demos and tests that must not
 * depend on downloads. Each class has a prototype: a smooth pattern of two low-frequency waves per
 * channel plus a tint. An image is its class's prototype moved by a random shift, with its contrast
 * scaled down and Gaussian noise added according to the {@link Difficulty}. The same settings give
 * the same bytes on every run and every machine.
 */
public final class SyntheticImages {

    /** How far images stray from their class prototype. */
    public enum Difficulty {
        /** Faint noise, shifts of up to 1/16 of the image: a nearest-class-mean classifier is near perfect. */
        EASY(0.06, 1.0 / 16, 1.0),
        /** Visible noise, shifts of up to 1/8, prototypes at 60% contrast. */
        MEDIUM(0.2, 1.0 / 8, 0.6),
        /** Heavy noise, shifts of up to 1/4, prototypes at 30% contrast: nearest class mean falls well short. */
        HARD(0.45, 1.0 / 4, 0.3);

        final double noise;
        final double shift;
        final double contrast;

        Difficulty(double noise, double shift, double contrast) {
            this.noise = noise;
            this.shift = shift;
            this.contrast = contrast;
        }
    }

    /**
     * What to generate.
     *
     * @param classes    number of classes, 2 or more
     * @param shape      shape of every image
     * @param trainCount training images
     * @param testCount  test images
     * @param difficulty how noisy
     * @param seed       fixes everything
     */
    public record Config(int classes, ImageShape shape, int trainCount, int testCount, Difficulty difficulty, long seed) {

        public Config {
            if (classes < 2) {
                throw new IllegalArgumentException("synthetic data needs at least 2 classes, got " + classes);
            }
            if (trainCount <= 0 || testCount <= 0) {
                throw new IllegalArgumentException("synthetic train and test counts must be positive, got "
                        + trainCount + " and " + testCount);
            }
            if ((long) (trainCount + (long) testCount) * shape.length() > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException((trainCount + testCount) + " images of " + shape + " is too many");
            }
        }

        /** 10 classes of 3×32×32 images, 1000 for training and 200 for testing, easy, seed 0. */
        public static Config defaults() {
            return new Config(10, new ImageShape(3, 32, 32), 1000, 200, Difficulty.EASY, 0);
        }
    }

    private SyntheticImages() {
    }

    public static Dataset generate(Config config) {
        int channels = config.shape().channels();
        // Tints are evenly spaced levels dealt out to the classes in a seeded order per channel, so
        // no two classes share a mean colour even in grayscale.
        double[][] tints = new double[config.classes()][channels];
        for (int c = 0; c < channels; c++) {
            int[] order = permutation(config.classes(), new SplittableRandom(Seeds.derive(config.seed(), 4, c)));
            for (int k = 0; k < config.classes(); k++) {
                tints[k][c] = 0.3 * ((double) order[k] / (config.classes() - 1) - 0.5);
            }
        }
        Prototype[] prototypes = new Prototype[config.classes()];
        for (int k = 0; k < prototypes.length; k++) {
            prototypes[k] = Prototype.random(tints[k], new SplittableRandom(Seeds.derive(config.seed(), 1, k)));
        }
        ImageSet train = split(config, prototypes, 2, config.trainCount());
        ImageSet test = split(config, prototypes, 3, config.testCount());
        List<String> names = new ArrayList<>();
        for (int k = 0; k < config.classes(); k++) {
            names.add("class" + k);
        }
        return Dataset.of("synthetic", names, train, test, LoadReport.ofNotes(String.format(Locale.ROOT,
                "synthetic: %d classes of %s, %s, seed %d", config.classes(), config.shape(),
                config.difficulty().name().toLowerCase(Locale.ROOT), config.seed())));
    }

    private static int[] permutation(int n, SplittableRandom random) {
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int swap = order[i];
            order[i] = order[j];
            order[j] = swap;
        }
        return order;
    }

    private static ImageSet split(Config config, Prototype[] prototypes, int stream, int count) {
        ImageShape shape = config.shape();
        byte[] pixels = new byte[count * shape.length()];
        int[] labels = new int[count];
        Difficulty difficulty = config.difficulty();
        int maxShiftY = (int) (shape.height() * difficulty.shift);
        int maxShiftX = (int) (shape.width() * difficulty.shift);
        for (int i = 0; i < count; i++) {
            // Every image from its own stream, so image i is the same whatever the counts.
            SplittableRandom random = new SplittableRandom(Seeds.derive(config.seed(), stream, i));
            int label = i % config.classes();
            labels[i] = label;
            int dy = random.nextInt(2 * maxShiftY + 1) - maxShiftY;
            int dx = random.nextInt(2 * maxShiftX + 1) - maxShiftX;
            prototypes[label].draw(shape, dy, dx, difficulty.contrast, difficulty.noise, random, pixels, i * shape.length());
        }
        return new ImageSet(shape, pixels, labels);
    }

    /** A class's look: per channel two waves (cycles across the image, angle, phase) and a tint. */
    private record Prototype(double[][] waves, double[] tint) {

        static Prototype random(double[] tint, SplittableRandom random) {
            double[][] waves = new double[tint.length][];
            for (int c = 0; c < tint.length; c++) {
                // At most 1.5 cycles across the image, so the allowed shifts move a wave by a small
                // part of its period and the class survives them.
                waves[c] = new double[] {
                        0.5 + random.nextDouble(), random.nextDouble() * Math.PI, random.nextDouble() * 2 * Math.PI,
                        0.25 + random.nextDouble() * 0.75, random.nextDouble() * Math.PI, random.nextDouble() * 2 * Math.PI};
            }
            return new Prototype(waves, tint);
        }

        void draw(ImageShape shape, int dy, int dx, double contrast, double noise, SplittableRandom random,
                  byte[] out, int offset) {
            int height = shape.height();
            int width = shape.width();
            for (int c = 0; c < shape.channels(); c++) {
                double[] w = waves[c];
                for (int y = 0; y < height; y++) {
                    double v = (double) (y - dy) / height;
                    for (int x = 0; x < width; x++) {
                        double u = (double) (x - dx) / width;
                        double pattern = 0.5 * wave(u, v, w[0], w[1], w[2]) + 0.5 * wave(u, v, w[3], w[4], w[5]);
                        double value = 0.5 + contrast * (0.3 * pattern + tint[c]) + noise * random.nextGaussian();
                        int b = (int) Math.round(Math.min(1, Math.max(0, value)) * 255);
                        out[offset + (c * height + y) * width + x] = (byte) b;
                    }
                }
            }
        }

        private static double wave(double u, double v, double cycles, double angle, double phase) {
            return Math.cos(2 * Math.PI * cycles * (u * Math.cos(angle) + v * Math.sin(angle)) + phase);
        }
    }
}
