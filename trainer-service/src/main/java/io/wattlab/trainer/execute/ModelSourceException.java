package io.wattlab.trainer.execute;

/** A model could not be had: the file is missing or not ONNX, or the built-in name is unknown. */
public class ModelSourceException extends Exception {

    public ModelSourceException(String message) {
        super(message);
    }

    public ModelSourceException(String message, Throwable cause) {
        super(message, cause);
    }
}
