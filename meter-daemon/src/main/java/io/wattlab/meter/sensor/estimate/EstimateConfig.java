package io.wattlab.meter.sensor.estimate;

import java.util.Locale;
import java.util.Objects;

/**
 * The parameters of the estimate: CPU power at idle and at full load, either per logical CPU or for the
 * whole host, and RAM power per GiB installed. Where the defaults come from is in docs/estimate-model.md.
 *
 * @param idleWatts      CPU power at 0 % utilization, per logical CPU or in total as {@code basis} says
 * @param maxWatts       CPU power at 100 % utilization, on the same basis; not below {@code idleWatts}
 * @param basis          whether the two figures are per logical CPU or for the whole host
 * @param ramWattsPerGib RAM power per GiB of installed memory
 */
public record EstimateConfig(double idleWatts, double maxWatts, CpuBasis basis, double ramWattsPerGib) {

    /** Cloud Carbon Footprint's AWS average minimum watts per vCPU (SPECpower-derived, 0 % load). */
    public static final double DEFAULT_IDLE_WATTS_PER_CPU = 0.74;
    /** Cloud Carbon Footprint's AWS average maximum watts per vCPU (SPECpower-derived, 100 % load). */
    public static final double DEFAULT_MAX_WATTS_PER_CPU = 3.5;
    /** Cloud Carbon Footprint's memory coefficient, 0.000392 kWh per GB-hour, as watts per GiB. */
    public static final double DEFAULT_RAM_WATTS_PER_GIB = 0.392;

    /** Whether CPU figures are for one logical CPU (multiplied by the host's count) or for the whole host. */
    public enum CpuBasis {
        PER_LOGICAL_CPU,
        TOTAL;

        /** The value of the {@code basis} channel attribute. */
        public String tag() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }
    }

    public EstimateConfig {
        Objects.requireNonNull(basis, "basis");
        requireWatts("idle_watts", idleWatts);
        requireWatts("max_watts", maxWatts);
        requireWatts("ram_watts_per_gib", ramWattsPerGib);
        if (maxWatts < idleWatts) {
            throw new IllegalArgumentException("estimate: max_watts (" + maxWatts + ") is below idle_watts ("
                    + idleWatts + "); the CPU cannot draw less at full load than at idle");
        }
    }

    /** The published defaults: 0.74 W to 3.5 W per logical CPU, 0.392 W per GiB of RAM. */
    public static EstimateConfig defaults() {
        return perLogicalCpu(DEFAULT_IDLE_WATTS_PER_CPU, DEFAULT_MAX_WATTS_PER_CPU, DEFAULT_RAM_WATTS_PER_GIB);
    }

    public static EstimateConfig perLogicalCpu(double idleWattsPerCpu, double maxWattsPerCpu, double ramWattsPerGib) {
        return new EstimateConfig(idleWattsPerCpu, maxWattsPerCpu, CpuBasis.PER_LOGICAL_CPU, ramWattsPerGib);
    }

    public static EstimateConfig totals(double idleWatts, double maxWatts, double ramWattsPerGib) {
        return new EstimateConfig(idleWatts, maxWatts, CpuBasis.TOTAL, ramWattsPerGib);
    }

    /** CPU power of the whole host at idle. */
    public double idleWattsTotal(int logicalCpus) {
        return basis == CpuBasis.PER_LOGICAL_CPU ? idleWatts * logicalCpus : idleWatts;
    }

    /** CPU power of the whole host at full load. */
    public double maxWattsTotal(int logicalCpus) {
        return basis == CpuBasis.PER_LOGICAL_CPU ? maxWatts * logicalCpus : maxWatts;
    }

    private static void requireWatts(String name, double value) {
        if (!Double.isFinite(value) || value < 0) {
            throw new IllegalArgumentException("estimate: " + name + " must be a finite number of watts, 0 or more,"
                    + " not " + value);
        }
    }
}
