package io.wattlab.trainer.onnx;

/** A model file or tensor that this engine cannot interpret, with the reason in the message. */
public class OnnxFormatException extends RuntimeException {
  public OnnxFormatException(String message) {
    super(message);
  }
}
