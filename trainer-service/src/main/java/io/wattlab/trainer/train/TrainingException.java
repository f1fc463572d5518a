package io.wattlab.trainer.train;

/** A training graph that cannot be built or run, with what to change in the message. */
public class TrainingException extends RuntimeException {
  public TrainingException(String message) {
    super(message);
  }
}
