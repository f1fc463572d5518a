package io.wattlab.trainer.store;

/** The runs directory cannot be used; the message names the directory or file and why. */
public class StoreException extends RuntimeException {

    public StoreException(String message, Throwable cause) {
        super(message, cause);
    }
}
