package io.wattlab.meter.ledger;

import io.wattlab.meter.sample.Channel;

/**
 * The samples of one channel held in memory, oldest first, in primitive arrays used as a ring so
 * that an hour at 10 Hz costs a few hundred kilobytes and no garbage per sample.
 */
final class ChannelSeries {

    private final Channel channel;
    private long[] timestampNanos = new long[1024];
    private double[] energyJoules = new double[1024];
    private double[] powerWatts = new double[1024];
    private int head;
    private int size;

    ChannelSeries(Channel channel) {
        this.channel = channel;
    }

    Channel channel() {
        return channel;
    }

    int size() {
        return size;
    }

    long firstNanos() {
        return timestampNanos[head];
    }

    long lastNanos() {
        return timestampNanos[index(size - 1)];
    }

    void add(long nanos, double energy, double power) {
        if (size > 0 && nanos < lastNanos()) {
            return; // a late sample would break the ordering that interpolation relies on
        }
        if (size == timestampNanos.length) {
            grow();
        }
        int i = index(size);
        timestampNanos[i] = nanos;
        energyJoules[i] = energy;
        powerWatts[i] = power;
        size++;
    }

    /** Drops samples older than {@code cutoffNanos}, keeping the last one at or before it so the cutoff stays interpolable. */
    void trimBefore(long cutoffNanos) {
        while (size > 1 && timestampNanos[index(1)] <= cutoffNanos) {
            head = index(1);
            size--;
        }
    }

    /** Cumulative energy at {@code nanos}, linear between samples, held flat outside the series. */
    double energyAt(long nanos) {
        int after = firstIndexAfter(nanos);
        if (after == 0) {
            return energyJoules[head];
        }
        if (after == size) {
            return energyJoules[index(size - 1)];
        }
        int i0 = index(after - 1);
        int i1 = index(after);
        long t0 = timestampNanos[i0];
        long t1 = timestampNanos[i1];
        double fraction = (double) (nanos - t0) / (double) (t1 - t0);
        return energyJoules[i0] + fraction * (energyJoules[i1] - energyJoules[i0]);
    }

    ChannelEnergy energyBetween(long startNanos, long endNanos) {
        double energy = energyAt(endNanos) - energyAt(startNanos);
        double peak = 0;
        int count = 0;
        for (int k = firstIndexAtOrAfter(startNanos); k < size && timestampNanos[index(k)] <= endNanos; k++) {
            peak = Math.max(peak, powerWatts[index(k)]);
            count++;
        }
        double seconds = (endNanos - startNanos) / 1e9;
        return new ChannelEnergy(channel, energy, seconds > 0 ? energy / seconds : 0, peak, count);
    }

    private int firstIndexAfter(long nanos) {
        return firstIndex(nanos, true);
    }

    private int firstIndexAtOrAfter(long nanos) {
        return firstIndex(nanos, false);
    }

    /** The first sample later than {@code nanos} ({@code strictly}) or not earlier than it; {@code size} if none. */
    private int firstIndex(long nanos, boolean strictly) {
        int lo = 0;
        int hi = size;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            long t = timestampNanos[index(mid)];
            if (strictly ? t <= nanos : t < nanos) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    private int index(int logical) {
        int i = head + logical;
        return i >= timestampNanos.length ? i - timestampNanos.length : i;
    }

    private void grow() {
        int capacity = timestampNanos.length * 2;
        long[] t = new long[capacity];
        double[] e = new double[capacity];
        double[] p = new double[capacity];
        for (int k = 0; k < size; k++) {
            int i = index(k);
            t[k] = timestampNanos[i];
            e[k] = energyJoules[i];
            p[k] = powerWatts[i];
        }
        timestampNanos = t;
        energyJoules = e;
        powerWatts = p;
        head = 0;
    }

    @Override
    public String toString() {
        return channel.key() + " (" + size + " samples)";
    }
}
