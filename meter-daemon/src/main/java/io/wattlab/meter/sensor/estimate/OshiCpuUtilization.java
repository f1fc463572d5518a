package io.wattlab.meter.sensor.estimate;

import oshi.hardware.CentralProcessor;

/** CPU utilization from the operating system's CPU time counters ({@code /proc/stat} on Linux), via OSHI. */
public final class OshiCpuUtilization implements CpuUtilizationSource {

    private final CentralProcessor processor;
    private long[] lastTicks;

    public OshiCpuUtilization(CentralProcessor processor) {
        this.processor = processor;
        this.lastTicks = processor.getSystemCpuLoadTicks();
    }

    @Override
    public double utilizationSinceLastCall() {
        long[] ticks = processor.getSystemCpuLoadTicks();
        // OSHI counts idle and iowait as idle, and gives 0 when no tick has passed between the two reads.
        double load = processor.getSystemCpuLoadBetweenTicks(lastTicks, ticks);
        lastTicks = ticks;
        return load;
    }
}
