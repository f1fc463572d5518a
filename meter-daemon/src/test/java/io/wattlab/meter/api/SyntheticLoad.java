package io.wattlab.meter.api;

import io.wattlab.meter.sensor.nvml.FakeNvml;
import io.wattlab.meter.sensor.rapl.FakePowercap;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Locale;

/**
 * A machine whose power follows known curves: a fake GPU (through the fake NVML library) and a
 * fake CPU package with DRAM (through a fake powercap tree), their counters advanced every few
 * milliseconds by a background thread from the exact integral of each curve. The daemon under
 * test reads them through its real sensors.
 */
final class SyntheticLoad implements AutoCloseable {

    /** A power curve in watts over seconds since the load started, and its integral in joules. */
    record Curve(double baseWatts, double amplitudeWatts, double periodSeconds) {
        double watts(double t) {
            return baseWatts + amplitudeWatts * Math.sin(2 * Math.PI * t / periodSeconds);
        }

        double joules(double t) {
            return baseWatts * t + amplitudeWatts * periodSeconds / (2 * Math.PI) * (1 - Math.cos(2 * Math.PI * t / periodSeconds));
        }
    }

    // Swings of a fifth to a quarter over seconds: enough to tell an integral from a constant, while
    // a sampling gap on a loaded machine (the trapezoid rule's error grows with the gap squared)
    // still leaves INTEGRAL(watts) well inside the end-to-end test's 0.5 %.
    static final Curve GPU = new Curve(180, 40, 6.1);
    static final Curve PACKAGE = new Curve(45, 10, 4.3);
    static final Curve DRAM = new Curve(6, 1, 5.0);
    private static final long RANGE_UJ = 262_143_328_850L;

    final FakeNvml nvml;
    final FakePowercap powercap;
    private final Object clock = new Object();
    private long resumedNanos;
    private double resumedSeconds;
    private boolean held;
    private double heldSeconds;
    private final Thread writer;
    private volatile boolean running = true;

    SyntheticLoad() throws IOException {
        nvml = FakeNvml.current();
        powercap = FakePowercap.create();
        // Counters start near the top of their range so that the RAPL package wraps during a test.
        powercap.zone("intel-rapl:0", "package-0", RANGE_UJ - 200_000_000L, RANGE_UJ);
        powercap.zone("intel-rapl:0:0", "dram", 0, RANGE_UJ);
        resumedNanos = System.nanoTime();
        nvml.reset(nvmlControl(0));
        writer = new Thread(this::run, "synthetic-load");
        writer.setDaemon(true);
        writer.start();
    }

    /** Seconds on the clock the curves use: wall time since the start, less the time it was held. */
    double secondsNow() {
        synchronized (clock) {
            return held ? heldSeconds : resumedSeconds + (System.nanoTime() - resumedNanos) / 1e9;
        }
    }

    /**
     * Stops the curves' clock: the counters stay where they are until {@link #advance} moves them,
     * so a test knows exactly what the sensors will read however slowly the machine runs.
     */
    double hold() {
        synchronized (clock) {
            heldSeconds = secondsNow();
            held = true;
            write(heldSeconds);
            return heldSeconds;
        }
    }

    /** Moves the held clock forward by {@code seconds} in one step and writes the counters there. */
    double advance(double seconds) {
        synchronized (clock) {
            heldSeconds += seconds;
            write(heldSeconds);
            return heldSeconds;
        }
    }

    /** Lets the clock run on from where it was held: the counters never go backwards. */
    void resume() {
        synchronized (clock) {
            resumedSeconds = heldSeconds;
            resumedNanos = System.nanoTime();
            held = false;
        }
    }

    private void run() {
        while (running) {
            synchronized (clock) {
                if (!held) {
                    write(secondsNow());
                }
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private void write(double t) {
        try {
            nvml.write(nvmlControl(t));
            powercap.energy("intel-rapl:0", (RANGE_UJ - 200_000_000L + Math.round(PACKAGE.joules(t) * 1e6)) % RANGE_UJ);
            powercap.energy("intel-rapl:0:0", Math.round(DRAM.joules(t) * 1e6));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String nvmlControl(double t) {
        return String.format(Locale.ROOT, """
                device
                name Synthetic GPU
                uuid GPU-5e1f0000-0000-0000-0000-000000000001
                energy_mj %d
                power_mw %d
                power_limit_mw 400000
                utilization 87 41
                memory 85899345920 42949672960 42949672960
                process 4242 1073741824
                """, Math.round(GPU.joules(t) * 1e3), Math.round(GPU.watts(t) * 1e3));
    }

    String nvmlLibrary() {
        return nvml.libraryPath();
    }

    String powercapRoot() {
        return powercap.root.toString();
    }

    @Override
    public void close() throws InterruptedException {
        running = false;
        writer.interrupt();
        writer.join(2000);
    }
}
