package io.wattlab.trainer.execute;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.wattlab.proto.v1.ModelSpec;
import io.wattlab.trainer.data.ImageShape;
import io.wattlab.trainer.model.ClassifierHead;
import io.wattlab.trainer.onnx.OnnxFormatException;
import io.wattlab.trainer.onnx.OnnxModels;

import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Reads {@code model.onnx_path}; a missing file, or one that does not parse as an ONNX model with a
 * graph, is named. With {@code model.num_classes} set, a head of another width is replaced by a
 * freshly initialised one ({@link ClassifierHead}).
 */
public final class FileModelSource implements ModelSource {

    /** Seed of a replaced head's initial weights, fixed so that two runs of one spec start alike. */
    static final long HEAD_SEED = 0;

    @Override
    public ModelProto load(ModelSpec spec, int numClasses, ImageShape inputShape) throws ModelSourceException {
        Path path = Path.of(spec.getOnnxPath());
        if (!Files.isRegularFile(path)) {
            throw new ModelSourceException("model file " + path + " does not exist"
                    + (Files.isDirectory(path) ? " (it is a directory)" : ""));
        }
        ModelProto model;
        try {
            model = OnnxModels.read(path);
        } catch (UncheckedIOException | OnnxFormatException e) {
            throw new ModelSourceException("model file " + path + " is not an ONNX model: "
                    + (e.getCause() != null ? e.getCause().getMessage() : e.getMessage()), e);
        }
        // Protobuf parses many byte strings into an empty message; a model without nodes is not one.
        if (model.getGraph().getNodeCount() == 0 || model.getOpsetImportCount() == 0) {
            throw new ModelSourceException("model file " + path + " is not an ONNX model: it holds no graph nodes"
                    + " or no opset import");
        }
        if (spec.getNumClasses() > 0) {
            try {
                model = ClassifierHead.replace(model, spec.getNumClasses(), HEAD_SEED);
            } catch (IllegalArgumentException e) {
                throw new ModelSourceException("model file " + path + ": model.num_classes " + spec.getNumClasses()
                        + ": " + e.getMessage(), e);
            }
        }
        return model;
    }
}
