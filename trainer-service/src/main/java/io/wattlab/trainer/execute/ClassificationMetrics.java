package io.wattlab.trainer.execute;

/**
 * Accumulates logits and labels into top-1, top-k (k = min(5, classes)), macro-F1 and mean
 * cross-entropy. Macro-F1 averages the per-class F1 over the classes that occur as a label or as a
 * prediction (scikit-learn's convention), so a class absent from a small test set does not count.
 */
public final class ClassificationMetrics {

    /** The figures of one evaluation. */
    public record Result(long samples, double top1, double top5, double macroF1, double loss) {
    }

    private final int classes;
    private final int k;
    private final long[] truePositives;
    private final long[] predicted;
    private final long[] actual;
    private long samples;
    private long correct;
    private long correctTopK;
    private double lossSum;

    public ClassificationMetrics(int classes) {
        this.classes = classes;
        this.k = Math.min(5, classes);
        this.truePositives = new long[classes];
        this.predicted = new long[classes];
        this.actual = new long[classes];
    }

    /** Adds {@code count} samples: their logits, row after row of {@code classes} values, and labels. */
    public void add(float[] logits, long[] labels, int count) {
        for (int i = 0; i < count; i++) {
            int base = i * classes;
            int label = (int) labels[i];
            int best = 0;
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < classes; c++) {
                if (logits[base + c] > max) {
                    max = logits[base + c];
                    best = c;
                }
            }
            double sumExp = 0;
            int above = 0;
            float own = logits[base + label];
            for (int c = 0; c < classes; c++) {
                sumExp += Math.exp(logits[base + c] - max);
                // Ties count against the label, so a constant output is not "top-5 correct".
                if (c != label && logits[base + c] >= own) {
                    above++;
                }
            }
            lossSum += -(own - max - Math.log(sumExp));
            samples++;
            if (best == label) {
                correct++;
                truePositives[label]++;
            }
            if (above < k) {
                correctTopK++;
            }
            predicted[best]++;
            actual[label]++;
        }
    }

    public Result result() {
        double f1Sum = 0;
        int present = 0;
        for (int c = 0; c < classes; c++) {
            if (predicted[c] + actual[c] == 0) {
                continue;
            }
            present++;
            f1Sum += 2.0 * truePositives[c] / (predicted[c] + actual[c]);
        }
        return new Result(samples, samples == 0 ? 0 : (double) correct / samples,
                samples == 0 ? 0 : (double) correctTopK / samples, present == 0 ? 0 : f1Sum / present,
                samples == 0 ? 0 : lossSum / samples);
    }
}
