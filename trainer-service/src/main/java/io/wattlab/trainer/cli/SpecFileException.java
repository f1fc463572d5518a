package io.wattlab.trainer.cli;

/** A spec file that is not a run spec; the message is one line naming the file and the field or line. */
public class SpecFileException extends Exception {

    public SpecFileException(String message) {
        super(message);
    }
}
