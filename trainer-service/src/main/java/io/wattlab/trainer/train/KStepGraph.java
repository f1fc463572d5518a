package io.wattlab.trainer.train;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.train.TrainGraph.StateSlot;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * K train steps in one ONNX Loop: the state is loop-carried, the K batches come in as one
 * input ({@code images} [K, N, ...], {@code labels} [K, N]) and the K losses come out as a scan
 * output, so parameters cross between host and device once per K steps. State goes in as
 * {@code <input>.init} and comes out as {@code <name>.final}.
 */
public record KStepGraph(ModelProto model, int steps, TrainGraph step, String imagesInput, String labelsInput,
    String lossesOutput) {

  public static final String IMAGES = "images";
  public static final String LABELS = "labels_k";
  public static final String LOSSES = "losses";

  public static String initName(StateSlot s) {
    return s.input() + ".init";
  }

  public static String finalName(StateSlot s) {
    return s.name() + ".final";
  }

  public static KStepGraph build(TrainGraph step, int k) {
    if (k < 1) {
      throw new IllegalArgumentException("K must be >= 1, got " + k);
    }
    if (step.scalesLoss()) {
      // Its loss scale moves on the host after every step, from that step's overflow flag.
      throw new IllegalArgumentException("a K-step graph cannot wrap a mixed-precision step (its loss scale is "
          + "adjusted on the host after each step)");
    }
    if (step.takesTeacherLogits()) {
      // The loop gathers images and labels per iteration only; a distilling step needs its own.
      throw new IllegalArgumentException("a K-step graph cannot wrap a distilling step (it has no teacher logits input)");
    }
    Graph body = Graph.fromModel(step.model());
    Graph main = new Graph(body.opset());
    main.setName("train_k" + k);
    // Constants and frozen weights stay in the outer graph; the body reads them from there.
    for (TensorProto t : body.initializers().values()) {
      main.addInitializer(t);
    }
    body.initializers().clear();

    long[] img = step.imageDims();
    long[] kImg = new long[img.length + 1];
    kImg[0] = k;
    System.arraycopy(img, 0, kImg, 1, img.length);
    main.addInput(IMAGES, new TensorType(Tensors.FLOAT, kImg));
    main.addInput(LABELS, new TensorType(Tensors.INT64, new long[] {k, img[0]}));
    main.addInput(step.learningRateInput(), new TensorType(Tensors.FLOAT, new long[0]));

    Map<String, TensorType> bodyInputs = new LinkedHashMap<>();
    bodyInputs.put("iter", new TensorType(Tensors.INT64, new long[0]));
    bodyInputs.put("cond_in", new TensorType(Tensors.BOOL, new long[0]));
    List<String> loopInputs = new ArrayList<>(List.of(
        main.fresh("trip_count"), ""));
    main.addInitializer(Tensors.longs(loopInputs.get(0), new long[0], new long[] {k}));
    List<String> loopOutputs = new ArrayList<>();
    for (StateSlot s : step.state()) {
      bodyInputs.put(s.input(), body.inputs().get(s.input()));
      main.addInput(initName(s), new TensorType(Tensors.FLOAT, s.dims()));
      loopInputs.add(initName(s));
      loopOutputs.add(finalName(s));
      main.outputs().put(finalName(s), new TensorType(Tensors.FLOAT, s.dims()));
    }
    loopOutputs.add(LOSSES);
    main.outputs().put(LOSSES, new TensorType(Tensors.FLOAT, new long[] {k}));

    body.addNode(new Node("gather_images", "Gather", "", List.of(IMAGES, "iter"), List.of(step.imageInput()),
        Map.of("axis", Attrs.i("axis", 0))));
    body.addNode(new Node("gather_labels", "Gather", "", List.of(LABELS, "iter"), List.of(step.labelsInput()),
        Map.of("axis", Attrs.i("axis", 0))));
    body.addNode(new Node("cond_pass", "Identity", "", List.of("cond_in"), List.of("cond_out"), Map.of()));
    body.inputs().clear();
    body.inputs().putAll(bodyInputs);
    Map<String, TensorType> outs = new LinkedHashMap<>();
    outs.put("cond_out", new TensorType(Tensors.BOOL, new long[0]));
    for (StateSlot s : step.state()) {
      outs.put(s.output(), new TensorType(Tensors.FLOAT, s.dims()));
    }
    outs.put(step.lossOutput(), new TensorType(Tensors.FLOAT, new long[0]));
    body.outputs().clear();
    body.outputs().putAll(outs);
    body.setName("train_step_body");
    body.sortTopologically();

    main.addNode(new Node("train_loop", "Loop", "", loopInputs, loopOutputs,
        Map.of("body", Attrs.g("body", body.toGraphProto()))));
    return new KStepGraph(main.toModel(), k, step, IMAGES, LABELS, LOSSES);
  }
}
