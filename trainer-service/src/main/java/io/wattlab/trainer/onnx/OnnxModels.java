package io.wattlab.trainer.onnx;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import com.google.protobuf.CodedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Reads and writes ONNX model files and answers which opset of the default domain a model uses. */
public final class OnnxModels {

  /** Opsets of the default ONNX domain this engine reads and writes. */
  public static final int MIN_OPSET = 11;
  public static final int MAX_OPSET = 21;

  private OnnxModels() {}

  /** Parses a model file; models over 64 MiB of protobuf are allowed (ResNet-50 is ~100 MB). */
  public static ModelProto read(Path path) {
    try (InputStream in = Files.newInputStream(path)) {
      CodedInputStream coded = CodedInputStream.newInstance(in);
      coded.setSizeLimit(Integer.MAX_VALUE);
      ModelProto model = ModelProto.parseFrom(coded);
      if (model.getGraph().getInitializerList().stream().anyMatch(t -> t.getDataLocation().getNumber() == 1)) {
        throw new OnnxFormatException(path + ": tensors stored as external data are not supported; "
            + "save the model with all tensors inside the file");
      }
      return model;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read ONNX model " + path, e);
    }
  }

  public static ModelProto parse(byte[] bytes) {
    try {
      CodedInputStream coded = CodedInputStream.newInstance(bytes);
      coded.setSizeLimit(Integer.MAX_VALUE);
      return ModelProto.parseFrom(coded);
    } catch (IOException e) {
      throw new OnnxFormatException("not an ONNX model: " + e.getMessage());
    }
  }

  public static void write(ModelProto model, Path path) {
    try {
      Path parent = path.toAbsolutePath().getParent();
      if (parent != null) {
        Files.createDirectories(parent);
      }
      Files.write(path, model.toByteArray());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write ONNX model " + path, e);
    }
  }

  /** The opset version imported for the default domain ("" or "ai.onnx"). */
  public static int defaultOpset(ModelProto model) {
    for (OperatorSetIdProto id : model.getOpsetImportList()) {
      if (id.getDomain().isEmpty() || id.getDomain().equals("ai.onnx")) {
        return (int) id.getVersion();
      }
    }
    throw new OnnxFormatException("model imports no opset of the default ONNX domain");
  }
}
