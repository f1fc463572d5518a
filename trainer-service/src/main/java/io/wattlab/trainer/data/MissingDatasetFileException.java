package io.wattlab.trainer.data;

/** A file or directory the dataset's format requires is not there; the message names the path. */
public class MissingDatasetFileException extends DatasetException {

    public MissingDatasetFileException(String message) {
        super(message);
    }
}
