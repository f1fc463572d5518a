package io.wattlab.meter.sensor.estimate;

import io.wattlab.meter.sensor.SensorException;
import org.junit.jupiter.api.Test;
import oshi.SystemInfo;
import oshi.hardware.CentralProcessor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProcStatCpuUtilizationTest {

    /** Rewrites the file in place, as the kernel's content changes under a descriptor kept open. */
    private static void write(Path file, String content) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.CREATE)) {
            channel.truncate(0);
            channel.write(ByteBuffer.wrap(content.getBytes(StandardCharsets.US_ASCII)), 0);
        }
    }

    private static Path procStat(String firstLine) throws IOException {
        Path dir = Files.createDirectories(Path.of("target", "fake-proc"));
        Path file = Files.createTempFile(dir, "stat-", "");
        write(file, firstLine + "\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 12345 0 0\n");
        return file;
    }

    @Test
    void idleAndIowaitCountAsIdleAndGuestTimeIsNotCountedTwice() throws Exception {
        //                       user nice system idle iowait irq softirq steal guest guest_nice
        Path file = procStat("cpu  1000 0 500 8000 100 0 0 0 0 0");
        try (ProcStatCpuUtilization source = ProcStatCpuUtilization.open(file)) {
            // +60 user (40 of them guest, already inside user), +20 system, +100 idle, +20 iowait: 80 busy of 200.
            write(file, "cpu  1060 0 520 8100 120 0 0 0 40 0\n");
            assertEquals(0.4, source.utilizationSinceLastCall(), 1e-12);

            write(file, "cpu  1060 0 520 8100 120 0 0 0 40 0\n");
            assertEquals(0.0, source.utilizationSinceLastCall(), "no tick passed: 0, as OSHI gives");

            // irq, softirq and steal are busy time too.
            write(file, "cpu  1060 0 520 8150 120 10 20 20 40 0\n");
            assertEquals(0.5, source.utilizationSinceLastCall(), 1e-12);
        }
    }

    @Test
    void anOldKernelWithFewerFieldsStillParses() throws Exception {
        Path file = procStat("cpu  100 0 50 800");
        try (ProcStatCpuUtilization source = ProcStatCpuUtilization.open(file)) {
            write(file, "cpu  130 0 70 850\n");
            assertEquals(0.5, source.utilizationSinceLastCall(), 1e-12);
        }
    }

    @Test
    void aFileThatIsNotProcStatIsRefusedAtOpenAndAFailingReadNamesTheFile() throws Exception {
        Path notStat = procStat("intr 1 2 3");
        IOException e = assertThrows(IOException.class, () -> ProcStatCpuUtilization.open(notStat));
        assertTrue(e.getMessage().contains(notStat.toString()), e.getMessage());

        Path file = procStat("cpu  1 0 0 1");
        try (ProcStatCpuUtilization source = ProcStatCpuUtilization.open(file)) {
            write(file, "garbage\n");
            SensorException failure = assertThrows(SensorException.class, source::utilizationSinceLastCall);
            assertTrue(failure.getMessage().contains(file.toString()), failure.getMessage());
        }
    }

    /** On this machine's real /proc/stat, the same span read by OSHI and by the kept-open file agree. */
    @Test
    void agreesWithOshiOverTheSameSpanOnTheRealProcStat() throws Exception {
        CentralProcessor processor = new SystemInfo().getHardware().getProcessor();
        try (ProcStatCpuUtilization source = ProcStatCpuUtilization.open()) {
            long[] before = processor.getSystemCpuLoadTicks();
            long until = System.nanoTime() + 300_000_000L;
            double sink = 0;
            while (System.nanoTime() < until) {
                sink += Math.sqrt(sink + 1);  // keep one CPU busy so that the share is not 0
            }
            double ours = source.utilizationSinceLastCall();
            double oshi = processor.getSystemCpuLoadBetweenTicks(before, processor.getSystemCpuLoadTicks());
            assertTrue(sink > 0);
            assertTrue(ours > 0.1, "one CPU spun for 0.3 s: " + ours);
            // The two reads are microseconds apart, not at the same instant: a tick or two may differ.
            assertEquals(oshi, ours, 0.05);
        }
    }
}
