package io.wattlab.trainer.data;

/** A dataset that could not be opened or used; the message names the file or setting and what was found. */
public class DatasetException extends Exception {

    public DatasetException(String message) {
        super(message);
    }

    public DatasetException(String message, Throwable cause) {
        super(message, cause);
    }
}
