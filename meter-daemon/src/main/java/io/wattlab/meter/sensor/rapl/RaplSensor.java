package io.wattlab.meter.sensor.rapl;

import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.Reading;
import io.wattlab.meter.sample.Source;
import io.wattlab.meter.sensor.CounterAccumulator;
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
    private long lastTimestampNanos;
    private boolean readBefore;

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
        for (RaplZone zone : scan.zones()) {
            found.add(new ZoneReader(zone, zone.channel(), new CounterAccumulator(zone.maxEnergyRangeMicrojoules())));
        }
        readers = List.copyOf(found);
        List<Channel> channels = readers.stream().map(ZoneReader::channel).toList();
        String problems = String.join("; ", scan.problems());
        if (readers.isEmpty()) {
            status = SensorStatus.unavailable(NAME, Source.MEASURED, scan.problems().isEmpty()
                    ? "no RAPL zones (intel-rapl:N, amd-rapl:N) under " + root
                            + ": load intel_rapl_msr, or the CPU or hypervisor does not expose RAPL"
                    : problems);
        } else {
            status = new SensorStatus(NAME, true, Source.MEASURED, problems, channels);
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
            Path file = readers.get(i).zone().energyFile();
            try {
                raw[i] = PowercapScan.readLong(file);
            } catch (IOException | NumberFormatException e) {
                throw new SensorException("rapl: cannot read " + file + " (" + PowercapScan.reason(file, e) + ")", e);
            }
        }
        double seconds = readBefore ? (timestampNanos - lastTimestampNanos) / 1e9 : 0;
        List<Reading> readings = new ArrayList<>(raw.length);
        for (int i = 0; i < raw.length; i++) {
            readings.add(readers.get(i).advance(raw[i], seconds));
        }
        lastTimestampNanos = timestampNanos;
        readBefore = true;
        return readings;
    }

    @Override
    public SensorStatus status() {
        return status;
    }

    /** One zone's counter and the energy it had at the previous read. */
    private static final class ZoneReader {
        private final RaplZone zone;
        private final Channel channel;
        private final CounterAccumulator counter;
        private double lastJoules;
        private double lastWatts;

        ZoneReader(RaplZone zone, Channel channel, CounterAccumulator counter) {
            this.zone = zone;
            this.channel = channel;
            this.counter = counter;
        }

        RaplZone zone() {
            return zone;
        }

        Channel channel() {
            return channel;
        }

        Reading advance(long rawMicrojoules, double secondsSinceLastRead) {
            double joules = counter.add(rawMicrojoules) * JOULES_PER_MICROJOULE;
            // Two reads at the same instant give no interval to divide by; the last power still holds.
            if (secondsSinceLastRead > 0) {
                lastWatts = (joules - lastJoules) / secondsSinceLastRead;
            }
            lastJoules = joules;
            return new Reading(channel, joules, lastWatts);
        }
    }
}
