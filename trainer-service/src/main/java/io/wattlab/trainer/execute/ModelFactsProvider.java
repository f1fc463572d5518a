package io.wattlab.trainer.execute;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.proto.v1.ModelFacts;
import io.wattlab.trainer.data.ImageShape;
import io.wattlab.trainer.onnx.Tensors;

import java.util.HashSet;
import java.util.Set;

/**
 * Size figures of a model (parameters, non-zero parameters, MACs, bytes). The default counts
 * initializers and leaves MACs at 0; a provider that walks the graph for MACs plugs in here.
 */
public interface ModelFactsProvider {

    ModelFacts facts(ModelProto model, ImageShape inputShape);

    /**
     * Parameters are the floating-point initializers other than BatchNorm running statistics;
     * bytes are the serialized model's size; MACs are not computed (0).
     */
    static ModelFactsProvider fromInitializers() {
        return (model, inputShape) -> {
            Set<String> statistics = new HashSet<>();
            for (NodeProto n : model.getGraph().getNodeList()) {
                if (n.getOpType().equals("BatchNormalization") && n.getInputCount() >= 5) {
                    statistics.add(n.getInput(3));
                    statistics.add(n.getInput(4));
                }
            }
            long parameters = 0;
            long nonzero = 0;
            for (TensorProto t : model.getGraph().getInitializerList()) {
                if (!Tensors.isFloating(t.getDataType()) || statistics.contains(t.getName())) {
                    continue;
                }
                for (double v : Tensors.toDoubles(t)) {
                    parameters++;
                    if (v != 0) {
                        nonzero++;
                    }
                }
            }
            return ModelFacts.newBuilder().setParameters(parameters).setNonzeroParameters(nonzero)
                    .setBytes(model.getSerializedSize()).build();
        };
    }
}
