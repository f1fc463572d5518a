package io.wattlab.meter.sensor.estimate;

import io.wattlab.meter.sensor.SensorException;

/** How busy the host's CPUs were, as the estimate's one input that changes from read to read. */
public interface CpuUtilizationSource {

    /**
     * The share of CPU time, over all logical CPUs, that was not idle since the previous call (or since
     * the source was created, on the first call).
     *
     * @return a fraction from 0 (idle) to 1 (every logical CPU busy all the time)
     * @throws SensorException where the operating system's counters cannot be read
     */
    double utilizationSinceLastCall() throws SensorException;
}
