package io.wattlab.trainer.execute;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetException;
import io.wattlab.trainer.data.DatasetSpec;
import io.wattlab.trainer.data.Datasets;

import java.nio.file.Path;

/**
 * A run spec's dataset and model, opened and fitted to each other as a run's load phase does it
 * (the model sized to the dataset's classes, images resized and normalised for the model), for
 * commands that use a spec's model without training it, such as {@code trainer-service capacity}.
 */
public record SpecInputs(Dataset dataset, ModelProto model) {

    /**
     * @throws DatasetException       the dataset cannot be opened or does not fit the model (the message says why)
     * @throws ModelSourceException   the model cannot be loaded (the message names the file or built-in)
     */
    public static SpecInputs load(RunSpec spec, ModelSource models) throws DatasetException, ModelSourceException {
        io.wattlab.proto.v1.DatasetSpec d = spec.getDataset();
        Dataset dataset = Datasets.open(new DatasetSpec(d.getFormat(), d.getPath().isBlank() ? null : Path.of(d.getPath()),
                d.getOptionsMap()));
        ModelProto model = models.load(spec.getModel(), dataset.numClasses(), dataset.storedShape());
        long[] inputDims = RunExecution.inputDims(model);
        dataset = dataset.withTransforms(RunExecution.transforms(spec, dataset, inputDims));
        dataset.requireFits(inputDims, RunExecution.classCount(model));
        return new SpecInputs(dataset, model);
    }
}
