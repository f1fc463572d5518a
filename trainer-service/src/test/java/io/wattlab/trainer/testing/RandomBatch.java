package io.wattlab.trainer.testing;

import java.util.Random;

/**
 * A fixed batch for benchmarks that time training steps: standard-normal images in NCHW order and
 * uniformly drawn labels, the same for a given seed, so that every configuration trains on the same data.
 */
public record RandomBatch(float[] images, long[] labels) {

  public static RandomBatch of(int batch, int channels, int height, int width, int classes, long seed) {
    Random random = new Random(seed);
    float[] images = new float[batch * channels * height * width];
    long[] labels = new long[batch];
    for (int i = 0; i < images.length; i++) {
      images[i] = (float) random.nextGaussian();
    }
    for (int i = 0; i < batch; i++) {
      labels[i] = random.nextInt(classes);
    }
    return new RandomBatch(images, labels);
  }
}
