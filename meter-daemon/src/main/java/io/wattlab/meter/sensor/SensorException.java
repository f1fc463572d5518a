package io.wattlab.meter.sensor;

/** A read that failed; the message names the device, file or call and what went wrong. */
public class SensorException extends Exception {

    public SensorException(String message) {
        super(message);
    }

    public SensorException(String message, Throwable cause) {
        super(message, cause);
    }
}
