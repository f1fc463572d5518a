package io.wattlab.meter.daemon;

import io.wattlab.meter.config.MeterConfig;
import io.wattlab.meter.ledger.EnergyLedger;
import io.wattlab.meter.ledger.OutOfRetentionException;
import io.wattlab.meter.ledger.RangeEnergy;
import io.wattlab.meter.ledger.WindowBook;
import io.wattlab.meter.sample.MeterClock;
import io.wattlab.meter.sample.Sample;
import io.wattlab.meter.sampler.Sampler;
import io.wattlab.meter.sensor.Sensor;
import io.wattlab.meter.sensor.SensorStatus;
import io.wattlab.meter.sink.SampleSink;
import io.wattlab.meter.sink.influx.InfluxSink;
import io.wattlab.meter.sink.influx.InfluxSinkStatus;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The running meter: sensors read by a sampler into the in-memory ledger, the open windows and,
 * when configured, InfluxDB. What the gRPC API and the trainer's in-process metering both talk to.
 */
public final class MeterDaemon implements AutoCloseable {

    /** A window as opened: its id and start instant. */
    public record OpenedWindow(String id, long startNanos) {
    }

    private final String host;
    private final MeterClock clock;
    private final List<Sensor> sensors;
    private final EnergyLedger ledger;
    private final WindowBook windows = new WindowBook();
    private final Optional<InfluxSink> influx;
    private final Sampler sampler;
    private final long startedNanos;

    /**
     * @param sensors   every sensor opened, available or not; only those with channels are read
     * @param intervals the sampling interval of each sensor, by sensor name
     */
    public MeterDaemon(String host, MeterClock clock, List<Sensor> sensors, Map<String, Duration> intervals,
                       Duration retention, Optional<InfluxSink> influx) {
        this.host = host;
        this.clock = clock;
        this.sensors = List.copyOf(sensors);
        this.ledger = new EnergyLedger(retention);
        this.influx = influx;
        List<Sampler.Schedule> schedules = new ArrayList<>();
        for (Sensor sensor : sensors) {
            if (!sensor.status().channels().isEmpty()) {
                Duration interval = intervals.get(sensor.name());
                if (interval == null) {
                    throw new IllegalArgumentException("no sampling interval for sensor " + sensor.name());
                }
                schedules.add(new Sampler.Schedule(sensor, interval));
            }
        }
        List<SampleSink> sinks = new ArrayList<>(List.of(ledger, windows));
        influx.ifPresent(sinks::add);
        this.sampler = new Sampler(clock, schedules, sinks);
        this.startedNanos = clock.nowNanos();
    }

    /** The daemon a configuration describes: its sensors opened, its InfluxDB sink (if any) tagged with its host; not started. */
    public static MeterDaemon open(MeterConfig config) {
        return new MeterDaemon(config.host(), new MeterClock(), Sensors.open(config), config.intervals(),
                config.retention(), config.influx().map(influx -> new InfluxSink(influx, config.host())));
    }

    public MeterDaemon start() {
        sampler.start();
        return this;
    }

    public String host() {
        return host;
    }

    public MeterClock clock() {
        return clock;
    }

    public long startedNanos() {
        return startedNanos;
    }

    public Duration retention() {
        return ledger.retention();
    }

    public List<SensorStatus> sensorStatuses() {
        return sensors.stream().map(Sensor::status).toList();
    }

    public List<Sampler.SensorRuntime> runtimes() {
        return sampler.runtimes();
    }

    public Optional<InfluxSinkStatus> influxStatus() {
        return influx.map(InfluxSink::status);
    }

    public int openWindows() {
        return windows.openCount();
    }

    /** Reads every sensor now and hands the samples to every sink. */
    public List<Sample> sampleNow() {
        return sampler.sampleNow();
    }

    public OpenedWindow beginWindow(Map<String, String> labels) {
        return sampler.sampleNow(edge -> {
            long start = edgeInstant(edge);
            return new OpenedWindow(windows.begin(labels, start, edge), start);
        });
    }

    /** Closes a window now; empty if no open window has that id. */
    public Optional<WindowBook.ClosedWindow> endWindow(String id) {
        return sampler.sampleNow(edge -> windows.end(id, edgeInstant(edge), edge));
    }

    /**
     * The energy between two instants held in memory. An end after the newest sample but not in
     * the future takes a sample first, so "from then until now" needs no extrapolation.
     */
    public RangeEnergy energyBetween(long startNanos, long endNanos) throws OutOfRetentionException {
        if (endNanos > ledger.newestNanos() && endNanos <= clock.nowNanos()) {
            sampler.sampleNow();
        }
        return ledger.energyBetween(startNanos, endNanos);
    }

    public void addSink(SampleSink sink) {
        sampler.addSink(sink);
    }

    public void removeSink(SampleSink sink) {
        sampler.removeSink(sink);
    }

    private long edgeInstant(List<Sample> edge) {
        // All samples of one sampleNow() share an instant; with no sensor at all, the clock stands in.
        return edge.isEmpty() ? clock.nowNanos() : edge.get(0).timestampNanos();
    }

    @Override
    public void close() {
        sampler.close();
        influx.ifPresent(InfluxSink::close);
        for (Sensor sensor : sensors) {
            sensor.close();
        }
    }
}
