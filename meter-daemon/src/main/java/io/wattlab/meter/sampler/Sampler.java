package io.wattlab.meter.sampler;

import io.wattlab.meter.sample.MeterClock;
import io.wattlab.meter.sample.Reading;
import io.wattlab.meter.sample.Sample;
import io.wattlab.meter.sensor.Sensor;
import io.wattlab.meter.sensor.SensorException;
import io.wattlab.meter.sink.SampleSink;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;

/**
 * Reads each sensor on its own schedule and hands every sample to every sink. Reads of one sensor
 * never overlap and its samples reach the sinks in time order, also when a read is asked for on
 * demand (at the edges of a window) between two scheduled ones.
 */
public final class Sampler implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Sampler.class);
    private static final long RATE_WINDOW_NANOS = 10_000_000_000L;

    /** A sensor and how often to read it. */
    public record Schedule(Sensor sensor, Duration interval) {
        public Schedule {
            if (interval.isNegative() || interval.isZero()) {
                throw new IllegalArgumentException(sensor.name() + ": sampling interval must be positive, was " + interval);
            }
        }
    }

    /** How a sensor's sampling is going. */
    public record SensorRuntime(Sensor sensor, Duration interval, double achievedRateHertz, long reads,
                                long failedReads, String lastError) {
        public double configuredRateHertz() {
            return 1e9 / interval.toNanos();
        }
    }

    private static final class Slot {
        final Schedule schedule;
        final ReentrantLock lock = new ReentrantLock();
        final ArrayDeque<Long> recentReadNanos = new ArrayDeque<>();
        long reads;
        long failedReads;
        String lastError = "";

        Slot(Schedule schedule) {
            this.schedule = schedule;
        }
    }

    private final MeterClock clock;
    private final List<Slot> slots;
    private final List<SampleSink> sinks = new CopyOnWriteArrayList<>();
    private List<ScheduledExecutorService> executors;

    public Sampler(MeterClock clock, List<Schedule> schedules, List<? extends SampleSink> sinks) {
        this.clock = clock;
        this.slots = schedules.stream().map(Slot::new).toList();
        this.sinks.addAll(sinks);
    }

    public MeterClock clock() {
        return clock;
    }

    /**
     * Starts the scheduled reads. Each sensor gets its own thread, so that a slow one does not delay
     * the rest, named after it ({@code meter-nvml}; Linux keeps 15 characters of a thread's name) so
     * that {@code top -H} or {@code /proc/PID/task/*}{@code /comm} shows what each sensor costs.
     */
    public synchronized void start() {
        if (executors != null) {
            return;
        }
        List<ScheduledExecutorService> started = new ArrayList<>(slots.size());
        for (Slot slot : slots) {
            String name = "meter-" + slot.schedule.sensor().name();
            ScheduledExecutorService executor = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, name);
                t.setDaemon(true);
                return t;
            });
            long nanos = slot.schedule.interval().toNanos();
            executor.scheduleAtFixedRate(() -> sampleOne(slot), 0, nanos, TimeUnit.NANOSECONDS);
            started.add(executor);
        }
        executors = started;
    }

    public void addSink(SampleSink sink) {
        sinks.add(sink);
    }

    public void removeSink(SampleSink sink) {
        sinks.remove(sink);
    }

    /**
     * Reads every sensor now, at one instant, and hands the samples to the sinks before returning them.
     * Used at the edges of windows so that their energy needs no extrapolation.
     */
    public List<Sample> sampleNow() {
        return sampleNow(samples -> samples);
    }

    /**
     * Reads every sensor now and applies {@code atEdge} to the samples before any other read can
     * happen: a window opened or closed there sees exactly the samples after its start and up to
     * its end, none slipping in between the edge read and the window's bookkeeping.
     */
    public <T> T sampleNow(Function<List<Sample>, T> atEdge) {
        for (Slot slot : slots) {
            slot.lock.lock();
        }
        try {
            long now = clock.nowNanos();
            List<Sample> all = new ArrayList<>();
            for (Slot slot : slots) {
                all.addAll(readLocked(slot, now, false));
            }
            return atEdge.apply(all);
        } finally {
            for (int i = slots.size() - 1; i >= 0; i--) {
                slots.get(i).lock.unlock();
            }
        }
    }

    public List<SensorRuntime> runtimes() {
        List<SensorRuntime> result = new ArrayList<>(slots.size());
        for (Slot slot : slots) {
            synchronized (slot.recentReadNanos) {
                double rate = 0;
                if (slot.recentReadNanos.size() >= 2) {
                    long span = slot.recentReadNanos.peekLast() - slot.recentReadNanos.peekFirst();
                    rate = span > 0 ? (slot.recentReadNanos.size() - 1) * 1e9 / span : 0;
                }
                result.add(new SensorRuntime(slot.schedule.sensor(), slot.schedule.interval(), rate, slot.reads,
                        slot.failedReads, slot.lastError));
            }
        }
        return Collections.unmodifiableList(result);
    }

    private void sampleOne(Slot slot) {
        slot.lock.lock();
        try {
            readLocked(slot, clock.nowNanos(), true);
        } catch (RuntimeException e) {
            // An exception escaping a scheduled task would cancel it for good.
            LOG.error("sensor {}: unexpected failure", slot.schedule.sensor().name(), e);
        } finally {
            slot.lock.unlock();
        }
    }

    private List<Sample> readLocked(Slot slot, long nowNanos, boolean scheduled) {
        Sensor sensor = slot.schedule.sensor();
        List<Reading> readings;
        try {
            readings = sensor.read(nowNanos);
        } catch (SensorException e) {
            synchronized (slot.recentReadNanos) {
                slot.failedReads++;
                if (!e.getMessage().equals(slot.lastError)) {
                    LOG.warn("sensor {}: {}", sensor.name(), e.getMessage());
                }
                slot.lastError = e.getMessage();
            }
            return List.of();
        }
        synchronized (slot.recentReadNanos) {
            slot.reads++;
            // Reads on demand (window edges) would make the schedule look faster than it is.
            if (scheduled) {
                slot.recentReadNanos.addLast(nowNanos);
                while (slot.recentReadNanos.peekFirst() < nowNanos - RATE_WINDOW_NANOS) {
                    slot.recentReadNanos.removeFirst();
                }
            }
        }
        return publish(readings, nowNanos);
    }

    private List<Sample> publish(List<Reading> readings, long nowNanos) {
        List<Sample> samples = new ArrayList<>(readings.size());
        for (Reading r : readings) {
            samples.add(Sample.of(nowNanos, r));
        }
        if (!samples.isEmpty()) {
            for (SampleSink sink : sinks) {
                try {
                    sink.accept(samples);
                } catch (RuntimeException e) {
                    LOG.error("sink {} failed on {} samples", sink.getClass().getSimpleName(), samples.size(), e);
                }
            }
        }
        return samples;
    }

    @Override
    public synchronized void close() {
        if (executors == null) {
            return;
        }
        executors.forEach(ScheduledExecutorService::shutdownNow);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        try {
            for (ScheduledExecutorService executor : executors) {
                executor.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        executors = null;
    }
}
