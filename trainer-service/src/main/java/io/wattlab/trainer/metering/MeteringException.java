package io.wattlab.trainer.metering;

/** The meter could not open or close a window; the message names the meter and the window. */
public class MeteringException extends RuntimeException {

    public MeteringException(String message, Throwable cause) {
        super(message, cause);
    }

    public MeteringException(String message) {
        super(message);
    }
}
