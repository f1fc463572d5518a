package io.wattlab.meter.sensor.estimate;

import io.wattlab.meter.sensor.KernelFile;
import io.wattlab.meter.sensor.SensorException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * CPU utilization from the first line of Linux's {@code /proc/stat}, kept open and read again at
 * every sample. Same arithmetic as OSHI's {@code getSystemCpuLoadBetweenTicks} (idle and iowait
 * count as idle), without reading and splitting the per-CPU lines that follow, which OSHI parses on
 * every call and which were most of the estimate's cost at 10 Hz.
 */
public final class ProcStatCpuUtilization implements CpuUtilizationSource, AutoCloseable {

    /** user nice system idle iowait irq softirq steal; guest and guest_nice are already in user and nice. */
    private static final int FIELDS = 8;
    private static final int IDLE = 3;
    private static final int IOWAIT = 4;
    // "cpu " and ten counters of at most 20 digits fit with room to spare.
    private static final int FIRST_LINE_BYTES = 512;

    private final KernelFile file;
    private final long[] last = new long[FIELDS];
    private final long[] now = new long[FIELDS];

    private ProcStatCpuUtilization(KernelFile file) throws IOException {
        this.file = file;
        parse(file.read(), last);
    }

    /** Opens {@code /proc/stat}; throws where it is missing or not in the expected form. */
    public static ProcStatCpuUtilization open() throws IOException {
        return open(Path.of("/proc/stat"));
    }

    static ProcStatCpuUtilization open(Path procStat) throws IOException {
        KernelFile file = KernelFile.open(procStat, FIRST_LINE_BYTES);
        try {
            return new ProcStatCpuUtilization(file);
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    @Override
    public double utilizationSinceLastCall() throws SensorException {
        try {
            parse(file.read(), now);
        } catch (IOException e) {
            throw new SensorException("estimate: cannot read " + file.path() + " (" + e + ")", e);
        }
        long total = 0;
        long idle = 0;
        for (int i = 0; i < FIELDS; i++) {
            // A counter that went back (a CPU taken offline takes its ticks with it) counts as no time.
            long delta = Math.max(0, now[i] - last[i]);
            total += delta;
            if (i == IDLE || i == IOWAIT) {
                idle += delta;
            }
        }
        System.arraycopy(now, 0, last, 0, FIELDS);
        return total > 0 ? (double) (total - idle) / total : 0;
    }

    /** Reads the counters of the aggregate {@code cpu} line; fields a kernel does not have are 0. */
    private void parse(ByteBuffer content, long[] into) throws IOException {
        int end = content.limit();
        int i = content.position();
        if (end - i < 4 || content.get(i) != 'c' || content.get(i + 1) != 'p' || content.get(i + 2) != 'u'
                || content.get(i + 3) != ' ') {
            throw new IOException(file.path() + " does not start with the aggregate \"cpu \" line");
        }
        i += 4;
        for (int field = 0; field < FIELDS; field++) {
            while (i < end && content.get(i) == ' ') {
                i++;
            }
            long value = 0;
            boolean digits = false;
            for (; i < end && content.get(i) >= '0' && content.get(i) <= '9'; i++) {
                value = value * 10 + (content.get(i) - '0');
                digits = true;
            }
            into[field] = digits ? value : 0;
        }
    }

    @Override
    public void close() {
        file.close();
    }
}
