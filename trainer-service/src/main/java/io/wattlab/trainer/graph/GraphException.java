package io.wattlab.trainer.graph;

/** A graph that cannot be built, inferred or differentiated; the message names the node at fault. */
public class GraphException extends RuntimeException {
  public GraphException(String message) {
    super(message);
  }
}
