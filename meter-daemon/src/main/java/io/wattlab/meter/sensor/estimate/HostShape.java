package io.wattlab.meter.sensor.estimate;

import oshi.hardware.HardwareAbstractionLayer;

/**
 * The fixed facts about the host that scale the estimate.
 *
 * @param logicalCpus the number of logical CPUs (hardware threads) the operating system sees
 * @param memoryBytes the memory the operating system sees, in bytes
 */
public record HostShape(int logicalCpus, long memoryBytes) {

    private static final double BYTES_PER_GIB = 1024.0 * 1024 * 1024;

    public HostShape {
        if (logicalCpus < 1) {
            throw new IllegalArgumentException("estimate: a host has at least one logical CPU, not " + logicalCpus);
        }
        if (memoryBytes < 0) {
            throw new IllegalArgumentException("estimate: memory cannot be negative: " + memoryBytes + " bytes");
        }
    }

    public double memoryGib() {
        return memoryBytes / BYTES_PER_GIB;
    }

    public static HostShape of(HardwareAbstractionLayer hardware) {
        return new HostShape(hardware.getProcessor().getLogicalProcessorCount(), hardware.getMemory().getTotal());
    }
}
