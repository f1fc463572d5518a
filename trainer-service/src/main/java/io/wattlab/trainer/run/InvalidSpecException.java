package io.wattlab.trainer.run;

/**
 * A run spec the service will not queue: the message is one line starting with the field's path,
 * such as {@code spec.optimizer.name: unknown optimizer 'adam' (known: sgd, adamw)}.
 */
public class InvalidSpecException extends RuntimeException {

    private final String field;

    public InvalidSpecException(String field, String problem) {
        super(field + ": " + problem);
        this.field = field;
    }

    /** The path of the offending field, with the proto's names: {@code spec.optimizer.name}. */
    public String field() {
        return field;
    }
}
