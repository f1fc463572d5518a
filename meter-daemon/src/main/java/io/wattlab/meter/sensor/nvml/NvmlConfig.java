package io.wattlab.meter.sensor.nvml;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Where the NVML sensor finds NVIDIA's management library, and how often it reads the GPUs' gauges.
 *
 * @param libraryPath         the library to load, a full path or a file name for the dynamic linker
 *                            to resolve; empty for the names an NVIDIA driver install provides
 *                            ({@link #DEFAULT_LIBRARY_NAMES})
 * @param gaugeIntervalMillis the least time between two reads of the gauges (power limit,
 *                            utilization, memory, compute processes); the reads in between carry the
 *                            last values. 0 reads them on every read. Energy and power are read every time.
 */
public record NvmlConfig(Optional<String> libraryPath, long gaugeIntervalMillis) {

    /**
     * The driver installs {@code libnvidia-ml.so.1}; the unversioned name exists only where a
     * development package or the CUDA toolkit adds it, so it is tried second.
     */
    public static final List<String> DEFAULT_LIBRARY_NAMES = List.of("libnvidia-ml.so.1", "libnvidia-ml.so");

    /**
     * Gauges change over seconds, not tenths of one, and they are most of a read's NVML calls (4 of 6
     * per GPU): once a second keeps them current for a dashboard at a third of the calls at 10 Hz.
     */
    public static final long DEFAULT_GAUGE_INTERVAL_MILLIS = 1000;

    public NvmlConfig {
        Objects.requireNonNull(libraryPath, "libraryPath");
        libraryPath = libraryPath.map(String::strip).filter(path -> !path.isEmpty());
        if (gaugeIntervalMillis < 0) {
            throw new IllegalArgumentException("gaugeIntervalMillis must be 0 or more, got " + gaugeIntervalMillis);
        }
    }

    /** This library (or the driver's names when empty), with gauges read at the default interval. */
    public NvmlConfig(Optional<String> libraryPath) {
        this(libraryPath, DEFAULT_GAUGE_INTERVAL_MILLIS);
    }

    /** The driver's library, found by the dynamic linker. */
    public static NvmlConfig defaults() {
        return new NvmlConfig(Optional.empty());
    }

    /** Exactly this library, and no other. */
    public static NvmlConfig ofLibrary(String libraryPath) {
        return new NvmlConfig(Optional.of(libraryPath));
    }

    /** The same library, with gauges read at most once per {@code gaugeIntervalMillis}. */
    public NvmlConfig withGaugeIntervalMillis(long gaugeIntervalMillis) {
        return new NvmlConfig(libraryPath, gaugeIntervalMillis);
    }

    /**
     * The names to try in order. A configured path is the only candidate: falling back from it
     * would hide a wrong setting behind whatever library the system happens to have.
     */
    public List<String> libraryCandidates() {
        return libraryPath.map(List::of).orElse(DEFAULT_LIBRARY_NAMES);
    }
}
