package io.wattlab.trainer.execute;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.wattlab.proto.v1.ModelSpec;
import io.wattlab.trainer.data.ImageShape;

/**
 * Where a run's model comes from: an ONNX file ({@link FileModelSource}) or a built-in model
 * generated in Java (wired by the service). Failures are {@link ModelSourceException}s whose
 * message names the file or the model.
 */
public interface ModelSource {

    /**
     * @param spec       the run's model section
     * @param numClasses the dataset's number of classes (a built-in model sizes its head with it)
     * @param inputShape the dataset's image shape after transforms (a built-in model takes it as input)
     */
    ModelProto load(ModelSpec spec, int numClasses, ImageShape inputShape) throws ModelSourceException;

    /** For builds without built-in models: asking for one names the model and says so. */
    static ModelSource noBuiltins() {
        return (spec, numClasses, inputShape) -> {
            throw new ModelSourceException("built-in model '" + spec.getBuiltin()
                    + "' is not available: this executor was built without built-in models");
        };
    }

    /** A file path goes to {@code files}, a built-in name to {@code builtins}. */
    static ModelSource of(ModelSource files, ModelSource builtins) {
        return (spec, numClasses, inputShape) -> switch (spec.getSourceCase()) {
            case ONNX_PATH -> files.load(spec, numClasses, inputShape);
            case BUILTIN -> builtins.load(spec, numClasses, inputShape);
            case SOURCE_NOT_SET -> throw new ModelSourceException("model: neither onnx_path nor builtin is set");
        };
    }
}
