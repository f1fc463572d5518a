package io.wattlab.trainer.compress;

/**
 * A technique or parameter that is not valid, found before any work: the field is the path
 * below {@code spec.compression}, such as {@code parameters.sparsity}.
 */
public class InvalidCompressionException extends RuntimeException {

  private final String field;

  public InvalidCompressionException(String field, String problem) {
    super(field + ": " + problem);
    this.field = field;
  }

  public String field() {
    return field;
  }

  /** The problem without the field. */
  public String problem() {
    return getMessage().substring(field.length() + 2);
  }
}
