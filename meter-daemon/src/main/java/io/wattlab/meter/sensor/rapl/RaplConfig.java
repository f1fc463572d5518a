package io.wattlab.meter.sensor.rapl;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Where the RAPL sensor looks for the Linux powercap tree.
 *
 * @param root the powercap class directory, {@code /sys/class/powercap} on a real host; tests point it
 *             at a tree they write themselves
 */
public record RaplConfig(Path root) {

    public static final Path DEFAULT_ROOT = Path.of("/sys/class/powercap");

    public RaplConfig {
        Objects.requireNonNull(root, "root");
    }

    public static RaplConfig defaults() {
        return new RaplConfig(DEFAULT_ROOT);
    }
}
