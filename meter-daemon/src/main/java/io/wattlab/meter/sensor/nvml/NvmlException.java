package io.wattlab.meter.sensor.nvml;

/** An NVML call that returned an error, with the code and NVML's own description of it. */
final class NvmlException extends Exception {

    private final String function;
    private final int code;

    NvmlException(String function, int code, String description) {
        super(function + " failed: " + description + " (NVML error " + code + ")");
        this.function = function;
        this.code = code;
    }

    String function() {
        return function;
    }

    int code() {
        return code;
    }

    /**
     * Whether the device simply does not offer this value: it lacks the feature, the driver lacks
     * the call, or this user may not read it. Such a value is left out, not treated as a failure.
     */
    boolean isUnavailableFeature() {
        return code == NvmlLibrary.ERROR_NOT_SUPPORTED
                || code == NvmlLibrary.ERROR_NO_PERMISSION
                || code == NvmlLibrary.ERROR_FUNCTION_NOT_FOUND;
    }
}
