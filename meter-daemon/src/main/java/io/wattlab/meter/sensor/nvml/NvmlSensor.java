package io.wattlab.meter.sensor.nvml;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.Reading;
import io.wattlab.meter.sample.Source;
import io.wattlab.meter.sensor.CounterAccumulator;
import io.wattlab.meter.sensor.PowerIntegrator;
import io.wattlab.meter.sensor.Sensor;
import io.wattlab.meter.sensor.SensorException;
import io.wattlab.meter.sensor.SensorStatus;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Power and energy of each NVIDIA GPU, read through NVML: one {@code gpu} channel per device, with
 * energy from the GPU's own total-energy counter where it has one (Volta and newer) and otherwise
 * integrated from power readings. Where there is no driver, no GPU or NVML will not start, the
 * sensor has no channels and its status says why.
 */
public final class NvmlSensor implements Sensor {

    public static final String NAME = "nvml";
    public static final String DOMAIN = "gpu";

    /** The value of the {@code energy_source} attribute: how a channel's energy is obtained. */
    public static final String ENERGY_FROM_COUNTER = "total_energy_counter";
    public static final String ENERGY_FROM_POWER = "power_integration";

    // Gauge names.
    public static final String POWER_LIMIT_WATTS = "power_limit_watts";
    public static final String UTILIZATION_GPU_PERCENT = "utilization_gpu_percent";
    public static final String UTILIZATION_MEMORY_PERCENT = "utilization_memory_percent";
    public static final String MEMORY_USED_BYTES = "memory_used_bytes";
    public static final String MEMORY_TOTAL_BYTES = "memory_total_bytes";
    public static final String COMPUTE_PROCESSES = "compute_processes";

    private static final String LIBRARY_SETTING = "WATTLAB_NVML_LIBRARY";

    private final NvmlLibrary nvml;
    private final List<Gpu> gpus;
    private final long gaugeIntervalNanos;
    private final SensorStatus status;
    private boolean closed;

    private NvmlSensor(NvmlLibrary nvml, List<Gpu> gpus, long gaugeIntervalMillis, String message) {
        this.nvml = nvml;
        this.gpus = List.copyOf(gpus);
        this.gaugeIntervalNanos = TimeUnit.MILLISECONDS.toNanos(gaugeIntervalMillis);
        this.status = new SensorStatus(NAME, !gpus.isEmpty(), Source.MEASURED, message,
                gpus.stream().map(gpu -> gpu.channel).toList());
        this.closed = nvml == null;
    }

    private static NvmlSensor unavailable(String message) {
        return new NvmlSensor(null, List.of(), 0, message);
    }

    /**
     * Loads NVML, starts it and finds the GPUs. Never throws: whatever is missing is reported in
     * {@link #status()}, and the sensor then has no channels.
     */
    public static NvmlSensor open(NvmlConfig config) {
        List<String> failures = new ArrayList<>();
        for (String candidate : config.libraryCandidates()) {
            NvmlLibrary nvml;
            try {
                nvml = NvmlLibrary.load(candidate);
            } catch (LinkageError | RuntimeException e) {
                failures.add(candidate + " (" + firstCause(e) + ")");
                continue;
            }
            return start(nvml, config.gaugeIntervalMillis());
        }
        return unavailable("NVML could not be loaded: tried " + String.join("; ", failures) + ". "
                + "Install the NVIDIA driver (nvidia-smi should work), or set " + LIBRARY_SETTING
                + " to the full path of libnvidia-ml.so.1; in a container, start it with the NVIDIA"
                + " container toolkit (docker run --gpus all).");
    }

    private static NvmlSensor start(NvmlLibrary nvml, long gaugeIntervalMillis) {
        int code;
        try {
            code = nvml.init();
        } catch (RuntimeException e) {
            return unavailable("nvmlInit_v2 in " + nvml.name() + " failed: " + e.getMessage());
        }
        if (code != NvmlLibrary.SUCCESS) {
            return unavailable("nvmlInit_v2 in " + nvml.name() + " failed: " + nvml.errorString(code)
                    + " (NVML error " + code + "). " + initFailureAdvice(code));
        }
        try {
            int count = nvml.deviceCount();
            if (count == 0) {
                shutdownQuietly(nvml);
                return unavailable("NVML (" + nvml.name() + ") started but found no GPUs. Check that"
                        + " nvidia-smi lists them; in a container, pass them in (docker run --gpus all"
                        + " or NVIDIA_VISIBLE_DEVICES).");
            }
            List<Gpu> gpus = new ArrayList<>();
            List<String> notes = new ArrayList<>();
            for (int index = 0; index < count; index++) {
                try {
                    gpus.add(Gpu.open(nvml, index, notes));
                } catch (NvmlException e) {
                    notes.add("GPU " + index + " skipped: " + e.getMessage());
                }
            }
            if (gpus.isEmpty()) {
                shutdownQuietly(nvml);
                return unavailable("NVML found " + count + " GPU(s) but none can be read: "
                        + String.join("; ", notes) + ".");
            }
            return new NvmlSensor(nvml, gpus, gaugeIntervalMillis, String.join("; ", notes));
        } catch (NvmlException | RuntimeException e) {
            shutdownQuietly(nvml);
            return unavailable("NVML (" + nvml.name() + ") started but listing GPUs failed: " + e.getMessage());
        }
    }

    /**
     * The dynamic linker's reason, e.g. "libnvidia-ml.so.1: cannot open shared object file: No such
     * file or directory": JNA's whole message goes on to list every jar on the class path.
     */
    static String firstCause(Throwable e) {
        String message = String.valueOf(e.getMessage());
        int newline = message.indexOf('\n');
        if (newline < 0) {
            return message;
        }
        String second = message.substring(newline + 1);
        int end = second.indexOf('\n');
        return (end < 0 ? second : second.substring(0, end)).strip();
    }

    private static String initFailureAdvice(int code) {
        return switch (code) {
            case NvmlLibrary.ERROR_DRIVER_NOT_LOADED -> "The NVIDIA kernel module is not loaded: check"
                    + " lsmod | grep nvidia and dmesg, load it (modprobe nvidia) or reinstall the driver.";
            case NvmlLibrary.ERROR_LIB_RM_VERSION_MISMATCH -> "libnvidia-ml and the loaded kernel module"
                    + " are from different driver versions, usually after a driver update: reboot, or"
                    + " unload and reload the nvidia kernel modules.";
            case NvmlLibrary.ERROR_NO_PERMISSION -> "This user may not open /dev/nvidia*: run the meter as"
                    + " a user with access to the GPU device files.";
            default -> "Check that nvidia-smi works on this machine.";
        };
    }

    private static void shutdownQuietly(NvmlLibrary nvml) {
        try {
            nvml.shutdown();
        } catch (NvmlException | RuntimeException ignored) {
            // Already failing: the first error is the one worth reporting.
        }
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public synchronized List<Reading> read(long timestampNanos) throws SensorException {
        if (closed) {
            if (gpus.isEmpty()) {
                return List.of();
            }
            throw new SensorException("nvml sensor is closed");
        }
        List<Reading> readings = new ArrayList<>(gpus.size());
        for (Gpu gpu : gpus) {
            readings.add(gpu.read(nvml, timestampNanos, gaugeIntervalNanos));
        }
        return readings;
    }

    /**
     * The processes running compute work on each GPU, for diagnostics. A GPU whose driver will not
     * list them (not supported, or not permitted) contributes none.
     */
    public synchronized List<GpuProcess> computeProcesses() throws SensorException {
        if (closed) {
            if (gpus.isEmpty()) {
                return List.of();
            }
            throw new SensorException("nvml sensor is closed");
        }
        List<GpuProcess> processes = new ArrayList<>();
        for (Gpu gpu : gpus) {
            try {
                for (NvmlLibrary.ProcessInfo process : nvml.computeProcesses(gpu.handle)) {
                    processes.add(new GpuProcess(gpu.index, process.pid(), process.usedMemoryBytes()));
                }
            } catch (NvmlException e) {
                if (!e.isUnavailableFeature()) {
                    throw gpu.failure(e);
                }
            }
        }
        return processes;
    }

    @Override
    public SensorStatus status() {
        return status;
    }

    /** Shuts NVML down, once; later reads fail. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        shutdownQuietly(nvml);
    }

    /** One GPU: its handle, its channel and how its energy is counted. */
    private static final class Gpu {

        private final int index;
        private final Pointer handle;
        private final String description;
        private final Channel channel;
        private final CounterAccumulator energyCounterMillijoules;
        private final PowerIntegrator powerIntegrator;
        /** Where the energy and power calls write; reads of a GPU never overlap (the sensor's reads are synchronized). */
        private final Memory scratch;
        private Map<String, Double> lastGauges;
        private long gaugesReadAtNanos;

        private Gpu(int index, Pointer handle, String description, Channel channel, boolean hasEnergyCounter,
                    Memory scratch) {
            this.index = index;
            this.scratch = scratch;
            this.handle = handle;
            this.description = description;
            this.channel = channel;
            // The counter is 64-bit and counts from driver load, so it does not wrap; a value below
            // the last one means the driver was reloaded, and counting starts again from zero.
            this.energyCounterMillijoules = hasEnergyCounter ? new CounterAccumulator(0) : null;
            this.powerIntegrator = hasEnergyCounter ? null : new PowerIntegrator();
        }

        static Gpu open(NvmlLibrary nvml, int index, List<String> notes) throws NvmlException {
            Pointer handle = nvml.deviceHandle(index);
            String name = nvml.name(handle);
            String uuid = nvml.uuid(handle);
            String description = "GPU " + index + " (" + name + ", " + uuid + ")";
            Memory scratch = NvmlLibrary.scratch();
            nvml.powerMilliwatts(handle, scratch);
            boolean hasEnergyCounter;
            try {
                nvml.totalEnergyMillijoules(handle, scratch);
                hasEnergyCounter = true;
            } catch (NvmlException e) {
                hasEnergyCounter = false;
                notes.add(description + " has no total-energy counter (" + e.getMessage() + "; it needs a"
                        + " Volta or newer GPU): its energy is integrated from power readings, which is"
                        + " coarser");
            }
            Channel channel = new Channel(NAME, DOMAIN, Integer.toString(index), Source.MEASURED, true,
                    Map.of("name", name, "uuid", uuid,
                            "energy_source", hasEnergyCounter ? ENERGY_FROM_COUNTER : ENERGY_FROM_POWER));
            return new Gpu(index, handle, description, channel, hasEnergyCounter, scratch);
        }

        Reading read(NvmlLibrary nvml, long timestampNanos, long gaugeIntervalNanos) throws SensorException {
            try {
                double energyJoules;
                double powerWatts;
                if (energyCounterMillijoules != null) {
                    long counterMillijoules = nvml.totalEnergyMillijoules(handle, scratch);
                    powerWatts = nvml.powerMilliwatts(handle, scratch) / 1000.0;
                    energyJoules = energyCounterMillijoules.add(counterMillijoules) / 1000.0;
                } else {
                    powerWatts = nvml.powerMilliwatts(handle, scratch) / 1000.0;
                    energyJoules = powerIntegrator.add(timestampNanos, powerWatts);
                }
                // A clock that went back (timestamp before the last gauge read) reads them again too.
                long sinceGaugesNanos = timestampNanos - gaugesReadAtNanos;
                if (lastGauges == null || sinceGaugesNanos >= gaugeIntervalNanos || sinceGaugesNanos < 0) {
                    lastGauges = Map.copyOf(gauges(nvml));
                    gaugesReadAtNanos = timestampNanos;
                }
                return new Reading(channel, energyJoules, powerWatts, lastGauges);
            } catch (NvmlException e) {
                throw failure(e);
            }
        }

        private Map<String, Double> gauges(NvmlLibrary nvml) throws NvmlException {
            Map<String, Double> gauges = new LinkedHashMap<>();
            try {
                gauges.put(POWER_LIMIT_WATTS, nvml.enforcedPowerLimitMilliwatts(handle) / 1000.0);
            } catch (NvmlException e) {
                rethrowUnlessUnavailable(e);
            }
            try {
                NvmlLibrary.Utilization utilization = nvml.utilization(handle);
                gauges.put(UTILIZATION_GPU_PERCENT, (double) utilization.gpuPercent());
                gauges.put(UTILIZATION_MEMORY_PERCENT, (double) utilization.memoryPercent());
            } catch (NvmlException e) {
                rethrowUnlessUnavailable(e);
            }
            try {
                NvmlLibrary.MemoryInfo memory = nvml.memory(handle);
                gauges.put(MEMORY_USED_BYTES, (double) memory.usedBytes());
                gauges.put(MEMORY_TOTAL_BYTES, (double) memory.totalBytes());
            } catch (NvmlException e) {
                rethrowUnlessUnavailable(e);
            }
            try {
                gauges.put(COMPUTE_PROCESSES, (double) nvml.computeProcesses(handle).size());
            } catch (NvmlException e) {
                rethrowUnlessUnavailable(e);
            }
            return gauges;
        }

        private static void rethrowUnlessUnavailable(NvmlException e) throws NvmlException {
            if (!e.isUnavailableFeature()) {
                throw e;
            }
        }

        SensorException failure(NvmlException e) {
            return new SensorException(description + ": " + e.getMessage(), e);
        }
    }
}
