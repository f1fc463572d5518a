package io.wattlab.trainer.data;

/** A dataset whose images or classes do not fit the model it is meant to feed; the message gives both shapes. */
public class DatasetMismatchException extends DatasetException {

    public DatasetMismatchException(String message) {
        super(message);
    }
}
