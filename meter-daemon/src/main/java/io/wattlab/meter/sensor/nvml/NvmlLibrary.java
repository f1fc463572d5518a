package io.wattlab.meter.sensor.nvml;

import com.sun.jna.Function;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * The calls into NVIDIA's {@code libnvidia-ml} that the NVML sensor makes, through JNA, with the
 * structs of {@code nvml.h} read at their byte offsets. Every method maps NVML's return code to a
 * value or an {@link NvmlException}; none of them keeps state besides the loaded library.
 */
final class NvmlLibrary {

    // nvmlReturn_t values, as in nvml.h.
    static final int SUCCESS = 0;
    static final int ERROR_NOT_SUPPORTED = 3;
    static final int ERROR_NO_PERMISSION = 4;
    static final int ERROR_INSUFFICIENT_SIZE = 7;
    static final int ERROR_DRIVER_NOT_LOADED = 9;
    static final int ERROR_FUNCTION_NOT_FOUND = 13;
    static final int ERROR_LIB_RM_VERSION_MISMATCH = 18;

    /** NVML_DEVICE_NAME_V2_BUFFER_SIZE and NVML_DEVICE_UUID_V2_BUFFER_SIZE in nvml.h. */
    private static final int STRING_BUFFER_SIZE = 96;

    /** NVML_VALUE_NOT_AVAILABLE, an unsigned long long of all ones, as Java reads it. */
    private static final long VALUE_NOT_AVAILABLE = -1L;

    /** Process entries offered to the first call; a busy GPU answers INSUFFICIENT_SIZE and the buffer grows. */
    static final int INITIAL_PROCESS_CAPACITY = 16;
    private static final int PROCESS_CALL_ATTEMPTS = 5;

    /*
     * The process structs. All versions start {unsigned int pid; unsigned long long usedGpuMemory}
     * (offsets 0 and 8, after 4 bytes of padding); v1 ends there (16 bytes), v2 adds two unsigned
     * ints (24 bytes). For a few drivers of the 535 branch the _v3 call wrote a v3 struct with one
     * more unsigned long long (32 bytes) before NVIDIA moved that field to nvmlProcessDetail_v1_t.
     * Those drivers are told apart as nvitop does: they export nvmlDeviceGetConfComputeMemSizeInfo
     * but not yet nvmlDeviceGetRunningProcessDetailList. The buffer always has room for the largest
     * struct, so a wrong guess could garble entries but never overrun the buffer. (Checked on an
     * H100 with driver 580.159.04: _v3 and _v2 fill 24-byte entries, the unversioned call 16-byte
     * ones, and a buffer too small gets INSUFFICIENT_SIZE with the count needed.)
     */
    private static final int PROCESS_PID_OFFSET = 0;
    private static final int PROCESS_USED_MEMORY_OFFSET = 8;
    private static final int PROCESS_V1_SIZE = 16;
    private static final int PROCESS_V2_SIZE = 24;
    private static final int PROCESS_V3_535_SIZE = 32;

    private final String name;
    private final Function init;
    private final Function shutdown;
    private final Function errorString;
    private final Function deviceCount;
    private final Function handleByIndex;
    private final Function deviceName;
    private final Function deviceUuid;
    private final Function powerUsage;
    private final Function totalEnergy;
    private final Function enforcedPowerLimit;
    private final Function utilizationRates;
    private final Function memoryInfo;
    private final Function computeProcesses;
    private final int processStructSize;

    private NvmlLibrary(String name, NativeLibrary library) {
        this.name = name;
        init = library.getFunction("nvmlInit_v2");
        shutdown = library.getFunction("nvmlShutdown");
        errorString = library.getFunction("nvmlErrorString");
        deviceCount = library.getFunction("nvmlDeviceGetCount_v2");
        handleByIndex = library.getFunction("nvmlDeviceGetHandleByIndex_v2");
        deviceName = library.getFunction("nvmlDeviceGetName");
        deviceUuid = library.getFunction("nvmlDeviceGetUUID");
        powerUsage = library.getFunction("nvmlDeviceGetPowerUsage");
        totalEnergy = optionalFunction(library, "nvmlDeviceGetTotalEnergyConsumption");
        enforcedPowerLimit = optionalFunction(library, "nvmlDeviceGetEnforcedPowerLimit");
        utilizationRates = optionalFunction(library, "nvmlDeviceGetUtilizationRates");
        memoryInfo = optionalFunction(library, "nvmlDeviceGetMemoryInfo");

        Function v3 = optionalFunction(library, "nvmlDeviceGetComputeRunningProcesses_v3");
        Function v2 = optionalFunction(library, "nvmlDeviceGetComputeRunningProcesses_v2");
        if (v3 != null) {
            computeProcesses = v3;
            boolean v3StructOf535 = optionalFunction(library, "nvmlDeviceGetConfComputeMemSizeInfo") != null
                    && optionalFunction(library, "nvmlDeviceGetRunningProcessDetailList") == null;
            processStructSize = v3StructOf535 ? PROCESS_V3_535_SIZE : PROCESS_V2_SIZE;
        } else if (v2 != null) {
            computeProcesses = v2;
            processStructSize = PROCESS_V2_SIZE;
        } else {
            computeProcesses = optionalFunction(library, "nvmlDeviceGetComputeRunningProcesses");
            processStructSize = PROCESS_V1_SIZE;
        }
    }

    /**
     * Loads the library by path or by a name the dynamic linker resolves.
     *
     * @throws UnsatisfiedLinkError where there is no such library, or it lacks a call every NVML
     *                              since 2015 has (it is then not NVML, or far too old)
     */
    static NvmlLibrary load(String nameOrPath) {
        return new NvmlLibrary(nameOrPath, NativeLibrary.getInstance(nameOrPath));
    }

    private static Function optionalFunction(NativeLibrary library, String symbol) {
        try {
            return library.getFunction(symbol);
        } catch (UnsatisfiedLinkError absent) {
            return null;
        }
    }

    /** The name or path the library was loaded by. */
    String name() {
        return name;
    }

    /** nvmlInit_v2: the return code, since the caller explains each failure differently. */
    int init() {
        return init.invokeInt(new Object[0]);
    }

    void shutdown() throws NvmlException {
        check("nvmlShutdown", shutdown.invokeInt(new Object[0]));
    }

    /** NVML's description of a return code. */
    String errorString(int code) {
        String description = errorString.invokeString(new Object[]{code}, false);
        return description == null ? "unknown NVML error" : description;
    }

    int deviceCount() throws NvmlException {
        Memory count = new Memory(Integer.BYTES);
        check("nvmlDeviceGetCount_v2", deviceCount.invokeInt(new Object[]{count}));
        return count.getInt(0);
    }

    Pointer deviceHandle(int index) throws NvmlException {
        Memory handle = new Memory(Native.POINTER_SIZE);
        check("nvmlDeviceGetHandleByIndex_v2", handleByIndex.invokeInt(new Object[]{index, handle}));
        return handle.getPointer(0);
    }

    String name(Pointer device) throws NvmlException {
        return string("nvmlDeviceGetName", deviceName, device);
    }

    String uuid(Pointer device) throws NvmlException {
        return string("nvmlDeviceGetUUID", deviceUuid, device);
    }

    /** Native memory for one value a call writes, kept by the caller so that reads ten times a second allocate none. */
    static Memory scratch() {
        return new Memory(Long.BYTES);
    }

    /** Energy used since the driver was loaded, in millijoules; Volta and newer GPUs only. */
    long totalEnergyMillijoules(Pointer device, Memory scratch) throws NvmlException {
        call("nvmlDeviceGetTotalEnergyConsumption", totalEnergy, device, scratch);
        return scratch.getLong(0);
    }

    long powerMilliwatts(Pointer device, Memory scratch) throws NvmlException {
        call("nvmlDeviceGetPowerUsage", powerUsage, device, scratch);
        return Integer.toUnsignedLong(scratch.getInt(0));
    }

    long enforcedPowerLimitMilliwatts(Pointer device) throws NvmlException {
        Memory limit = new Memory(Integer.BYTES);
        call("nvmlDeviceGetEnforcedPowerLimit", enforcedPowerLimit, device, limit);
        return Integer.toUnsignedLong(limit.getInt(0));
    }

    /** nvmlUtilization_t: {unsigned int gpu; unsigned int memory}, percent over the last sample period. */
    Utilization utilization(Pointer device) throws NvmlException {
        Memory rates = new Memory(2L * Integer.BYTES);
        call("nvmlDeviceGetUtilizationRates", utilizationRates, device, rates);
        return new Utilization(Integer.toUnsignedLong(rates.getInt(0)), Integer.toUnsignedLong(rates.getInt(4)));
    }

    /** nvmlMemory_t: {unsigned long long total; free; used}, in bytes. */
    MemoryInfo memory(Pointer device) throws NvmlException {
        Memory info = new Memory(3L * Long.BYTES);
        call("nvmlDeviceGetMemoryInfo", memoryInfo, device, info);
        return new MemoryInfo(info.getLong(0), info.getLong(8), info.getLong(16));
    }

    /** The processes with a compute context on the device, growing the buffer while NVML says it is too small. */
    List<ProcessInfo> computeProcesses(Pointer device) throws NvmlException {
        String function = computeProcesses == null ? "nvmlDeviceGetComputeRunningProcesses"
                : computeProcesses.getName();
        int capacity = INITIAL_PROCESS_CAPACITY;
        for (int attempt = 0; attempt < PROCESS_CALL_ATTEMPTS; attempt++) {
            Memory count = new Memory(Integer.BYTES);
            count.setInt(0, capacity);
            Memory infos = new Memory((long) capacity * PROCESS_V3_535_SIZE);
            infos.clear();
            int code = invoke(function, computeProcesses, device, count, infos);
            if (code == ERROR_INSUFFICIENT_SIZE) {
                // NVML wrote the count it needs; leave room for processes that start before the retry.
                capacity = Math.max(capacity * 2, count.getInt(0) + INITIAL_PROCESS_CAPACITY);
                continue;
            }
            check(function, code);
            int found = Math.min(count.getInt(0), capacity);
            List<ProcessInfo> processes = new ArrayList<>(found);
            for (int i = 0; i < found; i++) {
                long base = (long) i * processStructSize;
                long pid = Integer.toUnsignedLong(infos.getInt(base + PROCESS_PID_OFFSET));
                long usedBytes = infos.getLong(base + PROCESS_USED_MEMORY_OFFSET);
                processes.add(new ProcessInfo(pid,
                        usedBytes == VALUE_NOT_AVAILABLE ? OptionalLong.empty() : OptionalLong.of(usedBytes)));
            }
            return processes;
        }
        throw new NvmlException(function, ERROR_INSUFFICIENT_SIZE,
                errorString(ERROR_INSUFFICIENT_SIZE) + " after " + PROCESS_CALL_ATTEMPTS
                        + " tries with a growing buffer");
    }

    private String string(String functionName, Function function, Pointer device) throws NvmlException {
        Memory buffer = new Memory(STRING_BUFFER_SIZE);
        buffer.clear();
        call(functionName, function, device, buffer, STRING_BUFFER_SIZE);
        return buffer.getString(0, StandardCharsets.UTF_8.name());
    }

    private void call(String functionName, Function function, Object... args) throws NvmlException {
        check(functionName, invoke(functionName, function, args));
    }

    private int invoke(String functionName, Function function, Object... args) throws NvmlException {
        if (function == null) {
            throw new NvmlException(functionName, ERROR_FUNCTION_NOT_FOUND,
                    "this driver's " + name + " has no such call");
        }
        return function.invokeInt(args);
    }

    private void check(String functionName, int code) throws NvmlException {
        if (code != SUCCESS) {
            throw new NvmlException(functionName, code, errorString(code));
        }
    }

    /** GPU and memory-controller busy time, percent. */
    record Utilization(long gpuPercent, long memoryPercent) {
    }

    record MemoryInfo(long totalBytes, long freeBytes, long usedBytes) {
    }

    /** One entry of the process list; the device index is added by the sensor. */
    record ProcessInfo(long pid, OptionalLong usedMemoryBytes) {
    }
}
