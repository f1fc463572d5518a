package io.wattlab.meter.ledger;

import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.Sample;
import io.wattlab.meter.sink.SampleSink;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Open energy windows. A window keeps the cumulative energy of every channel at its start and
 * watches samples go by for peak power, so its energy does not depend on how long samples are
 * retained: a window may stay open for days.
 */
public final class WindowBook implements SampleSink {

    /** A closed window: its labels and its energy. */
    public record ClosedWindow(String id, Map<String, String> labels, RangeEnergy energy) {
    }

    /** Peak and count of one channel's samples; the same sample may be offered twice (by the sampler and at begin/end) and counts once. */
    private static final class Stats {
        double peakWatts;
        int count;
        long lastNanos = Long.MIN_VALUE;

        void observe(Sample s) {
            if (s.timestampNanos() <= lastNanos) {
                return;
            }
            peakWatts = Math.max(peakWatts, s.powerWatts());
            count++;
            lastNanos = s.timestampNanos();
        }
    }

    private static final class Open {
        final String id;
        final Map<String, String> labels;
        final long startNanos;
        final Map<String, Sample> startSamples;
        final Map<String, Stats> stats = new HashMap<>();

        Open(String id, Map<String, String> labels, long startNanos, Map<String, Sample> startSamples) {
            this.id = id;
            this.labels = labels;
            this.startNanos = startNanos;
            this.startSamples = startSamples;
        }

        synchronized void observe(Sample s) {
            if (s.timestampNanos() < startNanos) {
                return;
            }
            stats.computeIfAbsent(s.channel().key(), k -> new Stats()).observe(s);
        }
    }

    private final Map<String, Open> open = new ConcurrentHashMap<>();

    /**
     * Opens a window at {@code startNanos} with the samples taken at that instant.
     *
     * @return the window's id
     */
    public String begin(Map<String, String> labels, long startNanos, List<Sample> startSamples) {
        Map<String, Sample> byKey = new HashMap<>();
        for (Sample s : startSamples) {
            byKey.put(s.channel().key(), s);
        }
        String id = UUID.randomUUID().toString();
        Open window = new Open(id, Map.copyOf(labels), startNanos, byKey);
        startSamples.forEach(window::observe);
        open.put(id, window);
        return id;
    }

    /**
     * Closes a window at {@code endNanos} with the samples taken at that instant.
     *
     * @return the window's energy, or empty if no window has that id (unknown, or already ended)
     */
    public Optional<ClosedWindow> end(String id, long endNanos, List<Sample> endSamples) {
        Open window = open.remove(id);
        if (window == null) {
            return Optional.empty();
        }
        endSamples.forEach(window::observe);
        double seconds = (endNanos - window.startNanos) / 1e9;
        List<ChannelEnergy> channels = new ArrayList<>(endSamples.size());
        synchronized (window) {
            for (Sample end : endSamples) {
                Channel channel = end.channel();
                Sample start = window.startSamples.get(channel.key());
                // A channel that appeared after the window opened counts from its first sample (energy 0).
                double energy = end.energyJoules() - (start != null ? start.energyJoules() : 0);
                Stats st = window.stats.getOrDefault(channel.key(), new Stats());
                channels.add(new ChannelEnergy(channel, energy, seconds > 0 ? energy / seconds : 0, st.peakWatts, st.count));
            }
        }
        return Optional.of(new ClosedWindow(id, window.labels, new RangeEnergy(window.startNanos, endNanos, channels)));
    }

    public int openCount() {
        return open.size();
    }

    @Override
    public void accept(List<Sample> samples) {
        for (Open window : open.values()) {
            samples.forEach(window::observe);
        }
    }
}
