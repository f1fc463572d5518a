package io.wattlab.meter.sensor.nvml;

import com.sun.jna.NativeLibrary;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * The fake libnvidia-ml.so of {@code src/test/c/fake_nvml.c}, compiled with gcc into {@code target/}
 * once per JVM, and the control file that tells it which GPUs to pretend to have.
 */
public final class FakeNvml {

    // From meter-daemon's own tests, and from another module's tests through the test-jar.
    private static final Path SOURCE = Files.isRegularFile(Path.of("src/test/c/fake_nvml.c"))
            ? Path.of("src/test/c/fake_nvml.c") : Path.of("..", "meter-daemon", "src", "test", "c", "fake_nvml.c");
    private static final Map<Driver, FakeNvml> BUILT = new EnumMap<>(Driver.class);

    /** The driver generations the fake can pretend to be; see fake_nvml.c. */
    enum Driver {
        /** Energy counter; _v3 process call with 24-byte entries (as on the 580 branch). */
        CURRENT("fake-nvml"),
        /** The 535 branch, whose _v3 process call fills 32-byte entries. */
        R535("fake-nvml-535", "-DFAKE_NVML_535"),
        /** No energy counter call; only the unversioned process call, 16-byte entries. */
        LEGACY("fake-nvml-legacy", "-DFAKE_NVML_LEGACY");

        private final String directory;
        private final List<String> defines;

        Driver(String directory, String... defines) {
            this.directory = directory;
            this.defines = List.of(defines);
        }
    }

    private final Path library;
    private final Path controlFile;
    private final NativeLibrary fake;

    private FakeNvml(Path library) {
        this.library = library;
        this.controlFile = library.resolveSibling("control.txt");
        this.fake = NativeLibrary.getInstance(library.toString());
    }

    /** The fake of today's drivers. */
    public static FakeNvml current() {
        return of(Driver.CURRENT);
    }

    /** The fake of one driver generation, built on first use. */
    static synchronized FakeNvml of(Driver driver) {
        return BUILT.computeIfAbsent(driver, d -> new FakeNvml(compile(d.directory, d.defines)));
    }

    private static Path compile(String directory, List<String> defines) {
        Path output = Path.of("target", directory, "libnvidia-ml.so").toAbsolutePath();
        List<String> command = new ArrayList<>(List.of("gcc", "-shared", "-fPIC", "-Wall", "-Werror", "-O1"));
        command.addAll(defines);
        command.addAll(List.of("-o", output.toString(), SOURCE.toAbsolutePath().toString()));
        try {
            Files.createDirectories(output.getParent());
            Process gcc = new ProcessBuilder(command).redirectErrorStream(true).start();
            String log = new String(gcc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!gcc.waitFor(60, TimeUnit.SECONDS) || gcc.exitValue() != 0) {
                fail("could not build the fake NVML library: " + String.join(" ", command) + "\n" + log);
            }
        } catch (IOException e) {
            fail("could not run gcc to build the fake NVML library (is gcc installed?): " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail("interrupted while building the fake NVML library", e);
        }
        return output;
    }

    /** The path to give {@link NvmlConfig#ofLibrary}. */
    public String libraryPath() {
        return library.toString();
    }

    /** The config that loads this fake. */
    NvmlConfig config() {
        return NvmlConfig.ofLibrary(libraryPath());
    }

    /**
     * Makes the fake report what {@code text} says (see fake_nvml.c for the lines), as a freshly
     * booted machine: NVML not started, no shutdowns counted. Each test starts with this.
     */
    public FakeNvml reset(String text) {
        write(text);
        fake.getFunction("fake_nvml_set_control_file").invokeVoid(new Object[]{controlFile.toString()});
        return this;
    }

    /** Changes what the fake reports from its next call on, keeping its counts. */
    public void write(String text) {
        try {
            // Written aside and renamed: the daemon's sampler may read it at any moment.
            Path next = controlFile.resolveSibling("control.txt.next");
            Files.writeString(next, text);
            Files.move(next, controlFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    int shutdownCalls() {
        return fake.getFunction("fake_nvml_shutdown_calls").invokeInt(new Object[0]);
    }

    int initRefcount() {
        return fake.getFunction("fake_nvml_init_refcount").invokeInt(new Object[0]);
    }
}
