package io.wattlab.trainer.compress;

/** A model a pass cannot rewrite; the message names the node, tensor or op that stops it. */
public class CompressionException extends RuntimeException {

  public CompressionException(String message) {
    super(message);
  }

  public CompressionException(String message, Throwable cause) {
    super(message, cause);
  }
}
