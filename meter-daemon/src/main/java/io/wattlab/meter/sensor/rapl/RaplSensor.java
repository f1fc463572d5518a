package io.wattlab.meter.sensor.rapl;

import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.Reading;
import io.wattlab.meter.sample.Source;
import io.wattlab.meter.sensor.CounterAccumulator;
import io.wattlab.meter.sensor.KernelFile;
import io.wattlab.meter.sensor.Sensor;
import io.wattlab.meter.sensor.SensorException;
import io.wattlab.meter.sensor.SensorStatus;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * CPU package, core, uncore, DRAM and platform (psys) energy from Intel RAPL, or AMD's RAPL-compatible
 * counters, read through the Linux powercap tree ({@code /sys/class/powercap/intel-rapl:N[:M]}).
 */
public final class RaplSensor implements Sensor {

    public static final String NAME = "rapl";

    private static final double JOULES_PER_MICROJOULE = 1e-6;

    private final List<ZoneReader> readers;
    private final SensorStatus status;
    /** Power is never averaged over less than this, where an earlier read allows a longer span. */
    static final long MIN_POWER_SPAN_NANOS = 50_000_000L;

    /** {@code energy_uj} is at most 20 digits and a newline. */
    private static final int COUNTER_BYTES = 32;

    private long lastTimestampNanos;
    private long earlierTimestampNanos;
    private long readsBefore;

    /** Looks for RAPL zones under the configured root; finding none is a status, not an exception. */
    public RaplSensor(RaplConfig config) {
        Path root = config.root();
        if (!Files.isDirectory(root)) {
            readers = List.of();
            status = SensorStatus.unavailable(NAME, Source.MEASURED, "no powercap tree at " + root
                    + ": the kernel creates it when the intel_rapl_msr module is loaded (modprobe intel_rapl_msr);"
                    + " in a container, mount the host's /sys/class/powercap");
            return;
        }
        PowercapScan.Result scan;
        try {
            scan = PowercapScan.scan(root);
        } catch (IOException e) {
            readers = List.of();
            status = SensorStatus.unavailable(NAME, Source.MEASURED, "cannot list the powercap tree at " + root
                    + " (" + PowercapScan.reason(root, e) + ")");
            return;
        }
        List<ZoneReader> found = new ArrayList<>();
        List<String> problems = new ArrayList<>(scan.problems());
        for (RaplZone zone : scan.zones()) {
            try {
                found.add(new ZoneReader(zone, KernelFile.open(zone.energyFile(), COUNTER_BYTES),
                        new CounterAccumulator(zone.maxEnergyRangeMicrojoules())));
            } catch (IOException e) {
                problems.add("zone " + zone.id() + " (" + zone.name() + ") skipped: cannot open " + zone.energyFile()
                        + " (" + PowercapScan.reason(zone.energyFile(), e) + ")");
            }
        }
        readers = List.copyOf(found);
        List<Channel> channels = readers.stream().map(ZoneReader::channel).toList();
        if (readers.isEmpty()) {
            status = SensorStatus.unavailable(NAME, Source.MEASURED, problems.isEmpty()
                    ? "no RAPL zones (intel-rapl:N, amd-rapl:N) under " + root
                            + ": load intel_rapl_msr, or the CPU or hypervisor does not expose RAPL"
                    : String.join("; ", problems));
        } else {
            status = new SensorStatus(NAME, true, Source.MEASURED, String.join("; ", problems), channels);
        }
    }

    @Override
    public String name() {
        return NAME;
    }

    /**
     * Reads every zone. The first read is the starting point: its energy is 0 and its power 0; later
     * reads give the energy since then and the average power since the read before.
     */
    @Override
    public List<Reading> read(long timestampNanos) throws SensorException {
        // Every file is read before any counter moves, so a failed read leaves all zones where they were.
        long[] raw = new long[readers.size()];
        for (int i = 0; i < raw.length; i++) {
            KernelFile file = readers.get(i).energyFile();
            try {
                raw[i] = file.readLong();
            } catch (IOException | NumberFormatException e) {
                throw new SensorException("rapl: cannot read " + file.path() + " ("
                        + PowercapScan.reason(file.path(), e) + ")", e);
            }
        }
        // A read moments after another (a window's edge right after a scheduled read) would divide a
        // counter step of a millisecond's granularity by a tiny interval; its power is taken over the
        // two intervals instead, which keeps the trapezoid of the power series close to the counter.
        boolean fromEarlier = readsBefore >= 2 && timestampNanos - lastTimestampNanos < MIN_POWER_SPAN_NANOS;
        long since = fromEarlier ? earlierTimestampNanos : lastTimestampNanos;
        double seconds = readsBefore > 0 ? (timestampNanos - since) / 1e9 : 0;
        List<Reading> readings = new ArrayList<>(raw.length);
        for (int i = 0; i < raw.length; i++) {
            readings.add(readers.get(i).advance(raw[i], seconds, fromEarlier));
        }
        earlierTimestampNanos = lastTimestampNanos;
        lastTimestampNanos = timestampNanos;
        readsBefore++;
        return readings;
    }

    @Override
    public SensorStatus status() {
        return status;
    }

    @Override
    public void close() {
        readers.forEach(reader -> reader.energyFile().close());
    }

    /** One zone's counter and the energy it had at the previous read. */
    private static final class ZoneReader {
        private final Channel channel;
        private final KernelFile energyFile;
        private final CounterAccumulator counter;
        private double lastJoules;
        private double earlierJoules;
        private double lastWatts;

        ZoneReader(RaplZone zone, KernelFile energyFile, CounterAccumulator counter) {
            this.channel = zone.channel();
            this.energyFile = energyFile;
            this.counter = counter;
        }

        KernelFile energyFile() {
            return energyFile;
        }

        Channel channel() {
            return channel;
        }

        /**
         * @param seconds     the span the power is averaged over
         * @param fromEarlier whether that span starts at the read before the last one
         */
        Reading advance(long rawMicrojoules, double seconds, boolean fromEarlier) {
            double joules = counter.add(rawMicrojoules) * JOULES_PER_MICROJOULE;
            // Two reads at the same instant give no interval to divide by; the last power still holds.
            if (seconds > 0) {
                lastWatts = (joules - (fromEarlier ? earlierJoules : lastJoules)) / seconds;
            }
            earlierJoules = lastJoules;
            lastJoules = joules;
            return new Reading(channel, joules, lastWatts);
        }
    }
}
