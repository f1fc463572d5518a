package io.wattlab.trainer.model;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.wattlab.proto.v1.ModelSpec;
import io.wattlab.trainer.data.ImageShape;
import io.wattlab.trainer.execute.ModelSource;
import io.wattlab.trainer.execute.ModelSourceException;
import io.wattlab.trainer.onnx.OnnxModels;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A run's built-in model: a checkpoint written by {@link Pretrainer} when the spec names one (its
 * head replaced where the dataset has another number of classes), else a freshly initialised model.
 */
public final class BuiltinModelSource implements ModelSource {

    @Override
    public ModelProto load(ModelSpec spec, int numClasses, ImageShape inputShape) throws ModelSourceException {
        String name = spec.getBuiltin();
        if (!BuiltinModels.names().contains(name)) {
            throw new ModelSourceException("model.builtin: unknown built-in model '" + name + "' (known: "
                    + String.join(", ", BuiltinModels.names()) + ")");
        }
        if (spec.getCheckpointPath().isBlank()) {
            return BuiltinModels.create(name, numClasses, inputShape.channels(), inputShape.height(), inputShape.width());
        }
        Path checkpoint = Path.of(spec.getCheckpointPath());
        if (!Files.isRegularFile(checkpoint)) {
            throw new ModelSourceException("model.checkpoint_path: " + checkpoint + " does not exist"
                    + " (write one with `bin/trainer-service pretrain --model " + name + " --out " + checkpoint + "`)");
        }
        ModelProto model;
        try {
            model = OnnxModels.read(checkpoint);
        } catch (Exception e) {
            throw new ModelSourceException("model.checkpoint_path: " + checkpoint + ": " + e.getMessage());
        }
        return classes(model) == numClasses ? model : BuiltinModels.withNewHead(model, numClasses, 0L);
    }

    /** The size of the output's last dimension, or -1 where the graph does not say. */
    static long classes(ModelProto model) {
        if (model.getGraph().getOutputCount() == 0) {
            return -1;
        }
        ValueInfoProto output = model.getGraph().getOutput(0);
        TensorShapeProto shape = output.getType().getTensorType().getShape();
        if (shape.getDimCount() == 0 || !shape.getDim(shape.getDimCount() - 1).hasDimValue()) {
            return -1;
        }
        return shape.getDim(shape.getDimCount() - 1).getDimValue();
    }
}
