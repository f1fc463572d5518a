package io.wattlab.meter.sensor.nvml;

import java.util.OptionalLong;

/**
 * A process with a compute context on a GPU, as NVML lists it.
 *
 * @param deviceIndex     the NVML index of the GPU, the {@code device} of its channel
 * @param pid             the process id, in the host's pid namespace
 * @param usedMemoryBytes GPU memory the process holds; empty where the driver cannot tell
 *                        (NVML reports {@code NVML_VALUE_NOT_AVAILABLE}, e.g. without permission)
 */
public record GpuProcess(int deviceIndex, long pid, OptionalLong usedMemoryBytes) {
}
