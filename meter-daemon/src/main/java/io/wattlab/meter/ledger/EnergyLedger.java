package io.wattlab.meter.ledger;

import io.wattlab.meter.sample.Sample;
import io.wattlab.meter.sink.SampleSink;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The samples of the last {@code retention}, per channel, answering "how many joules between these
 * two instants": the difference of cumulative energy interpolated at each instant, not a sum of
 * power readings, so that the edges are as exact as the sampling allows.
 */
public final class EnergyLedger implements SampleSink {

    private final long retentionNanos;
    private final Map<String, ChannelSeries> series = new LinkedHashMap<>();

    public EnergyLedger(Duration retention) {
        if (retention.isNegative() || retention.isZero()) {
            throw new IllegalArgumentException("retention must be positive, was " + retention);
        }
        this.retentionNanos = retention.toNanos();
    }

    public Duration retention() {
        return Duration.ofNanos(retentionNanos);
    }

    @Override
    public synchronized void accept(List<Sample> samples) {
        long newest = Long.MIN_VALUE;
        for (Sample s : samples) {
            series.computeIfAbsent(s.channel().key(), k -> new ChannelSeries(s.channel()))
                    .add(s.timestampNanos(), s.energyJoules(), s.powerWatts());
            newest = Math.max(newest, s.timestampNanos());
        }
        if (newest != Long.MIN_VALUE) {
            long cutoff = newest - retentionNanos;
            for (ChannelSeries c : series.values()) {
                c.trimBefore(cutoff);
            }
        }
    }

    /** The newest sample instant held, or {@link Long#MIN_VALUE} when nothing is held. */
    public synchronized long newestNanos() {
        return series.values().stream().filter(c -> c.size() > 0).mapToLong(ChannelSeries::lastNanos)
                .max().orElse(Long.MIN_VALUE);
    }

    /**
     * The energy of every channel between two instants.
     *
     * @throws OutOfRetentionException where the range starts before the oldest sample held or ends
     *                                 after the newest; its message names the range held
     */
    public synchronized RangeEnergy energyBetween(long startNanos, long endNanos) throws OutOfRetentionException {
        if (endNanos < startNanos) {
            throw new IllegalArgumentException("end " + endNanos + " is before start " + startNanos);
        }
        long oldest = series.values().stream().filter(c -> c.size() > 0).mapToLong(ChannelSeries::firstNanos)
                .min().orElse(Long.MAX_VALUE);
        long newest = newestNanos();
        if (oldest == Long.MAX_VALUE) {
            throw new OutOfRetentionException("no samples are held yet", 0, 0);
        }
        if (startNanos < oldest) {
            throw new OutOfRetentionException("the range starts before the oldest sample held", oldest, newest);
        }
        if (endNanos > newest) {
            throw new OutOfRetentionException("the range ends after the newest sample", oldest, newest);
        }
        List<ChannelEnergy> result = new ArrayList<>(series.size());
        for (ChannelSeries c : series.values()) {
            if (c.size() > 0) {
                result.add(c.energyBetween(startNanos, endNanos));
            }
        }
        return new RangeEnergy(startNanos, endNanos, result);
    }
}
