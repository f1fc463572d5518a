package io.wattlab.meter.sensor.rapl;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A powercap tree written to disk the way the kernel lays it out: top-level zones in the class
 * directory, each sub-zone nested in its zone's directory and also linked flat into the class directory.
 */
public final class FakePowercap {

    public final Path root;

    private FakePowercap(Path root) {
        this.root = root;
    }

    /** A fresh, empty tree under target/, so that nothing is left outside the build directory. */
    public static FakePowercap create() throws IOException {
        Path base = Files.createDirectories(Path.of("target", "fake-powercap"));
        Path root = Files.createTempDirectory(base, "powercap-").toAbsolutePath();
        // The control-type directory the kernel also puts here; it is not a zone.
        Files.createDirectories(root.resolve("intel-rapl"));
        Files.writeString(root.resolve("intel-rapl").resolve("enabled"), "1\n");
        return new FakePowercap(root);
    }

    /** Writes a zone; an id with two colons ({@code intel-rapl:0:1}) is a sub-zone of {@code intel-rapl:0}. */
    public Path zone(String id, String name, long energyMicrojoules, long maxEnergyRangeMicrojoules) throws IOException {
        Path dir = dir(id);
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("name"), name + "\n");
        Files.writeString(dir.resolve("energy_uj"), String.format("%020d%n", energyMicrojoules));
        Files.writeString(dir.resolve("max_energy_range_uj"), maxEnergyRangeMicrojoules + "\n");
        if (!dir.getParent().equals(root)) {
            Files.createSymbolicLink(root.resolve(id), root.relativize(dir));
        }
        return dir;
    }

    /**
     * Sets a zone's counter in place, as the kernel's file changes: the sensor keeps {@code energy_uj}
     * open and reads it again from the start, so a file renamed over it would never be seen. The value
     * is written zero-padded to a fixed width in one write and the file is never truncated, so that a
     * sensor reading at the same moment never sees an empty or half-written number.
     */
    public void energy(String id, long energyMicrojoules) throws IOException {
        try (FileChannel file = FileChannel.open(energyFile(id), StandardOpenOption.WRITE)) {
            file.write(ByteBuffer.wrap(String.format("%020d%n", energyMicrojoules).getBytes(StandardCharsets.US_ASCII)), 0);
        }
    }

    Path energyFile(String id) {
        return dir(id).resolve("energy_uj");
    }

    private Path dir(String id) {
        int first = id.indexOf(':');
        int last = id.lastIndexOf(':');
        return first == last ? root.resolve(id) : root.resolve(id.substring(0, last)).resolve(id);
    }
}
