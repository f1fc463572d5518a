package io.wattlab.trainer.data;

/**
 * Derives independent seeds from a base seed and a path of integers (epoch, batch, image), so that
 * every random choice is fixed by the base seed no matter which thread makes it or in what order.
 */
public final class Seeds {

    private Seeds() {
    }

    /** A seed for the stream named by {@code path} under {@code seed}. */
    public static long derive(long seed, long... path) {
        long h = mix(seed ^ 0x6A09E667F3BCC909L);
        for (long part : path) {
            h = mix(h ^ mix(part + 0x9E3779B97F4A7C15L));
        }
        return h;
    }

    // SplitMix64's finaliser: a bijection that spreads every input bit over the output.
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
