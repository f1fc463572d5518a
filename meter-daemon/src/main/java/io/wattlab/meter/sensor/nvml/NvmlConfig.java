package io.wattlab.meter.sensor.nvml;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Where the NVML sensor finds NVIDIA's management library.
 *
 * @param libraryPath the library to load, a full path or a file name for the dynamic linker to
 *                    resolve; empty for the names an NVIDIA driver install provides
 *                    ({@link #DEFAULT_LIBRARY_NAMES})
 */
public record NvmlConfig(Optional<String> libraryPath) {

    /**
     * The driver installs {@code libnvidia-ml.so.1}; the unversioned name exists only where a
     * development package or the CUDA toolkit adds it, so it is tried second.
     */
    public static final List<String> DEFAULT_LIBRARY_NAMES = List.of("libnvidia-ml.so.1", "libnvidia-ml.so");

    public NvmlConfig {
        Objects.requireNonNull(libraryPath, "libraryPath");
        libraryPath = libraryPath.map(String::strip).filter(path -> !path.isEmpty());
    }

    /** The driver's library, found by the dynamic linker. */
    public static NvmlConfig defaults() {
        return new NvmlConfig(Optional.empty());
    }

    /** Exactly this library, and no other. */
    public static NvmlConfig ofLibrary(String libraryPath) {
        return new NvmlConfig(Optional.of(libraryPath));
    }

    /**
     * The names to try in order. A configured path is the only candidate: falling back from it
     * would hide a wrong setting behind whatever library the system happens to have.
     */
    public List<String> libraryCandidates() {
        return libraryPath.map(List::of).orElse(DEFAULT_LIBRARY_NAMES);
    }
}
