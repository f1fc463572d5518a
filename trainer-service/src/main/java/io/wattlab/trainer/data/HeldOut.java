package io.wattlab.trainer.data;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Splits a labelled set into training and held-out test indices when a format has no test split of
 * its own. The split is stratified (each class gives the same fraction) and fixed by the seed.
 */
public final class HeldOut {

    /** Default share of images held out for testing. */
    public static final double DEFAULT_FRACTION = 0.2;

    private HeldOut() {
    }

    /**
     * Index lists into the original set, each in ascending order.
     *
     * @param train indices kept for training
     * @param test  indices held out for testing
     */
    public record Partition(int[] train, int[] test) {
    }

    /**
     * @param labels   class per image
     * @param fraction share of each class to hold out, in (0, 1); a class of two or more images
     *                 always keeps at least one image on each side
     * @param seed     fixes which images are held out
     */
    public static Partition split(int[] labels, double fraction, long seed) {
        if (!(fraction > 0 && fraction < 1)) {
            throw new IllegalArgumentException("held-out fraction must be between 0 and 1 exclusive, got " + fraction);
        }
        int classes = 0;
        for (int label : labels) {
            classes = Math.max(classes, label + 1);
        }
        List<List<Integer>> byClass = new ArrayList<>();
        for (int c = 0; c < classes; c++) {
            byClass.add(new ArrayList<>());
        }
        for (int i = 0; i < labels.length; i++) {
            byClass.get(labels[i]).add(i);
        }
        boolean[] held = new boolean[labels.length];
        int heldCount = 0;
        for (int c = 0; c < classes; c++) {
            List<Integer> members = byClass.get(c);
            int n = members.size();
            int take = (int) Math.round(n * fraction);
            if (n >= 2) {
                take = Math.min(Math.max(take, 1), n - 1);
            }
            SplittableRandom random = new SplittableRandom(Seeds.derive(seed, 0x4E1D, c));
            int[] order = members.stream().mapToInt(Integer::intValue).toArray();
            for (int i = 0; i < take; i++) {
                int j = i + random.nextInt(n - i);
                int swap = order[i];
                order[i] = order[j];
                order[j] = swap;
                held[order[i]] = true;
            }
            heldCount += take;
        }
        int[] train = new int[labels.length - heldCount];
        int[] test = new int[heldCount];
        int t = 0;
        int h = 0;
        for (int i = 0; i < labels.length; i++) {
            if (held[i]) {
                test[h++] = i;
            } else {
                train[t++] = i;
            }
        }
        return new Partition(train, test);
    }
}
