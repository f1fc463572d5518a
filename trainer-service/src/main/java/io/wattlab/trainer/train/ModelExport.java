package io.wattlab.trainer.train;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.Tensors;
import java.util.Map;

/** Builds the eval graph and the plain inference model carrying trained weights and statistics. */
public final class ModelExport {
  private ModelExport() {}

  /**
   * The forward graph in inference mode (BatchNorm on running statistics) with every parameter
   * and statistic as a graph input, so that one session evaluates any training state.
   */
  public static ModelProto evalGraph(ForwardModel forward) {
    Graph g = forward.copyOfGraph();
    Map<String, float[]> state = forward.initialState();
    for (String name : state.keySet()) {
      var t = g.initializers().remove(name);
      g.addInput(name, new TensorType(Tensors.FLOAT, Tensors.dims(t)));
    }
    g.setName("eval");
    return g.toModel();
  }

  /** The inference model with the given parameter and statistic values, batch size left open. */
  public static ModelProto trainedModel(ForwardModel forward, Map<String, float[]> state) {
    Graph g = forward.copyOfGraph();
    for (Map.Entry<String, float[]> e : state.entrySet()) {
      var old = g.initializers().get(e.getKey());
      if (old == null) {
        continue; // optimizer state is not part of the model
      }
      g.addInitializer(Tensors.floats(e.getKey(), Tensors.dims(old), e.getValue()));
    }
    openBatch(g.inputs());
    openBatch(g.outputs());
    return g.toModel();
  }

  private static void openBatch(Map<String, TensorType> values) {
    values.replaceAll((n, t) -> {
      if (t.rank() == 0) {
        return t;
      }
      long[] d = t.dims().clone();
      d[0] = -1;
      return t.withDims(d);
    });
  }
}
