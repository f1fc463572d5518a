package io.wattlab.trainer.train;

import ai.onnx.proto.OnnxMl.TensorProto;
import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.ShapeInference;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.graph.autodiff.Autodiff;
import io.wattlab.trainer.graph.autodiff.GradientRegistry;
import io.wattlab.trainer.graph.autodiff.NormalizationRules;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.train.TrainGraph.StateKind;
import io.wattlab.trainer.train.TrainGraph.StateSlot;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Derives a single train-step graph from a prepared forward model: training-mode BatchNorm as
 * primitive ops, softmax cross-entropy (or the distillation loss, with the teacher's logits as an
 * input), backward, optional global-norm clipping, optimizer update. With
 * {@link TrainConfig#mixedPrecision} the forward and backward passes compute in 16 bits between
 * Casts of the float32 master weights, and the loss is scaled (see {@link MixedPrecision}).
 */
public final class TrainStepBuilder {
  public static final String LABELS = "labels";
  public static final String LEARNING_RATE = "lr";
  public static final String LOSS = "loss";
  /** The teacher's logits [batch, classes], an input only of graphs built with distillation. */
  public static final String TEACHER_LOGITS = "teacher_logits";
  /** The loss scale S, a float32 scalar input of mixed-precision graphs: the backward starts from S·loss. */
  public static final String LOSS_SCALE = "loss_scale";
  /** 1 when some gradient of the step was not finite (the step then changed nothing), else 0; float32. */
  public static final String GRAD_OVERFLOW = "grad_overflow";

  /**
   * Inputs that stay float32 in a 16-bit forward pass: BatchNormalization's scale, bias and
   * statistics (it computes in float32, below) and the float-only sizes of Resize and Upsample.
   */
  private static final Map<String, Set<Integer>> FLOAT32_INPUTS = Map.of(
      "BatchNormalization", Set.of(1, 2, 3, 4), "Resize", Set.of(1, 2), "Upsample", Set.of(1));

  private TrainStepBuilder() {}

  public static TrainGraph build(ForwardModel forward, TrainConfig config) {
    return build(forward, config, false, true);
  }

  /**
   * With {@code withoutConv}, every convolution is rewritten as MatMul and Gemm whatever its size
   * (see {@link BatchGemmConvs#rewrite(Graph, boolean, ChannelsLast.Forms)}) and average pools as
   * ReduceMean ({@link PoolsAsReductions}), so that the graph can be widened to float64, for which
   * ONNX Runtime's CPU provider has no Conv or average-pool kernels (the parity tests' float64
   * runs). {@code channelsLast} false leaves out {@link ChannelsLast} (for its tests).
   */
  static TrainGraph build(ForwardModel forward, TrainConfig config, boolean withoutConv, boolean channelsLast) {
    Graph g = forward.copyOfGraph();
    GraphBuilder b = new GraphBuilder(g, "train/");
    MixedPrecision mixed = config.mixedPrecision();
    if (mixed != null) {
      castForward(g, b, mixed.elemType());
    }
    Map<String, TensorType> normalized = new LinkedHashMap<>();
    Map<String, String> statNext = lowerBatchNorm(g, b, normalized, mixed != null);
    enableDropout(g, b);
    PaddingTaps.crop(g);
    DepthwiseConvs.rewrite(g, withoutConv);
    ChannelsLast.Forms forms = new ChannelsLast.Forms();
    BatchGemmConvs.rewrite(g, withoutConv, forms);
    if (channelsLast) {
      ChannelsLast.apply(g, forms, normalized);
    }
    if (withoutConv) {
      PoolsAsReductions.rewrite(g);
    }
    // The loss is float32 in both modes: LogSoftmax's exp and sum overflow and round in 16 bits
    // (PyTorch's autocast runs log_softmax and the losses in float32 for this reason).
    String logits = mixed == null ? forward.logits() : b.cast(forward.logits(), Tensors.FLOAT);

    // loss = mean over the batch of -sum_c target_c * log_softmax(logits)_c
    long classes = ShapeInference.run(g).dims(forward.logits())[1];
    g.addInput(LABELS, new TensorType(Tensors.INT64, new long[] {config.batchSize()}));
    double eps = config.labelSmoothing();
    String target = b.op("OneHot", List.of(LABELS, b.ints(classes),
        b.constant(Tensors.FLOAT, new long[] {2}, eps / classes, 1 - eps + eps / classes)), Attrs.i("axis", -1));
    String logp = b.op("LogSoftmax", List.of(logits), Attrs.i("axis", 1));
    String perSample = b.reduceSum(b.mul(target, logp), false, 1);
    if (config.distillation() == null) {
      b.opInto(LOSS, "Neg", List.of(b.op("ReduceMean", List.of(perSample), Attrs.i("keepdims", 0))));
    } else {
      String ce = b.neg(b.op("ReduceMean", List.of(perSample), Attrs.i("keepdims", 0)));
      g.addInput(TEACHER_LOGITS, new TensorType(Tensors.FLOAT, new long[] {config.batchSize(), classes}));
      distillationLoss(b, config.distillation(), ce, logits);
    }

    List<String> trainable = select(forward, config.trainable());
    List<StateSlot> state = new ArrayList<>();
    Map<String, float[]> initial = forward.initialState();
    for (String p : trainable) {
      TensorProto t = g.initializers().remove(p);
      g.addInput(p, new TensorType(Tensors.FLOAT, Tensors.dims(t)));
    }
    for (String s : forward.batchNormStats()) {
      TensorProto t = g.initializers().remove(s);
      g.addInput(s, new TensorType(Tensors.FLOAT, Tensors.dims(t)));
    }
    g.outputs().clear();
    g.outputs().put(LOSS, new TensorType(Tensors.FLOAT, new long[0]));

    boolean scaled = mixed != null && !trainable.isEmpty();
    String differentiated = LOSS;
    if (scaled) {
      g.addInput(LOSS_SCALE, new TensorType(Tensors.FLOAT, new long[0]));
      differentiated = b.mul(LOSS, LOSS_SCALE);
    }
    Map<String, String> grads = trainable.isEmpty() ? Map.of()
        : new Autodiff(GradientRegistry.standard()).differentiate(g, differentiated, trainable);
    String overflow = null;
    if (scaled) {
      grads = unscale(b, grads);
      overflow = overflowFlag(b, grads);
    }
    if (config.clipGradNorm() > 0 && !grads.isEmpty()) {
      grads = clipByGlobalNorm(b, grads, config.clipGradNorm());
    }

    g.addInput(LEARNING_RATE, new TensorType(Tensors.FLOAT, new long[0]));
    Map<String, String> gradientOutputs = new LinkedHashMap<>();
    for (String p : trainable) {
      long[] dims = g.inputs().get(p).dims();
      String next = p + ".next";
      List<StateSlot> extra = OptimizerGraphs.update(b, config.optimizer(), p, grads.get(p), next, dims, LEARNING_RATE);
      state.add(new StateSlot(p, p, next, dims, initial.get(p), StateKind.PARAMETER));
      for (StateSlot s : extra) {
        g.addInput(s.input(), new TensorType(Tensors.FLOAT, s.dims()));
        state.add(s);
      }
      if (config.outputGradients()) {
        String go = p + ".grad";
        b.opInto(go, "Identity", List.of(grads.get(p)));
        gradientOutputs.put(p, go);
      }
    }
    for (String s : forward.batchNormStats()) {
      long[] dims = g.inputs().get(s).dims();
      state.add(new StateSlot(s, s, statNext.get(s), dims, initial.get(s), StateKind.STATISTIC));
    }
    OptimizerGraphs.addSharedState(b, config.optimizer(), state, g);
    if (overflow != null) {
      skipOnOverflow(g, b, state, overflow);
      g.outputs().put(GRAD_OVERFLOW, new TensorType(Tensors.FLOAT, new long[0]));
    }
    for (StateSlot s : state) {
      g.outputs().put(s.output(), new TensorType(Tensors.FLOAT, s.dims()));
    }
    gradientOutputs.values().forEach(o -> g.outputs().put(o, new TensorType(Tensors.FLOAT,
        g.inputs().get(o.substring(0, o.length() - ".grad".length())).dims())));
    NormalizationRules.expand(g, normalized);
    BroadcastShapes.apply(g);
    g.setName("train_step");
    g.sortTopologically();
    g.removeUnused();
    return new TrainGraph(g.toModel(), forward.input(), g.inputs().get(forward.input()).dims(), LABELS,
        LEARNING_RATE, LOSS, state, gradientOutputs, mixed);
  }

  /**
   * Makes the forward graph compute in {@code elemType}: every float32 value that enters it from
   * outside (the image input, initializers, which become the trainable parameters' inputs, and
   * Constant nodes) is read through one Cast to the 16-bit type, except the inputs of
   * {@link #FLOAT32_INPUTS}. The parameters themselves stay float32 (master weights): the Cast's
   * gradient rule casts their gradients back to float32.
   */
  static void castForward(Graph g, GraphBuilder b, int elemType) {
    Map<String, Node> producers = g.producers();
    Map<String, String> casts = new LinkedHashMap<>();
    for (Node n : new ArrayList<>(g.nodes())) {
      Set<Integer> kept = FLOAT32_INPUTS.getOrDefault(n.opType(), Set.of());
      for (int i = 0; i < n.inputs().size(); i++) {
        String in = n.input(i);
        if (in.isEmpty() || kept.contains(i) || !isFloat32Source(g, producers, in)) {
          continue;
        }
        n.inputs().set(i, casts.computeIfAbsent(in, v -> b.cast(v, elemType)));
      }
    }
    g.sortTopologically();
  }

  private static boolean isFloat32Source(Graph g, Map<String, Node> producers, String value) {
    TensorProto t = g.initializers().get(value);
    if (t != null) {
      return t.getDataType() == Tensors.FLOAT;
    }
    TensorType in = g.inputs().get(value);
    if (in != null) {
      return in.elemType() == Tensors.FLOAT;
    }
    Node p = producers.get(value);
    return p != null && p.opType().equals("Constant") && p.hasAttr("value")
        && p.attributes().get("value").getT().getDataType() == Tensors.FLOAT;
  }

  /** Divides each (float32, scaled) gradient by the loss scale; 1/S is exact for the powers of two S takes. */
  static Map<String, String> unscale(GraphBuilder b, Map<String, String> grads) {
    String inverse = b.op("Reciprocal", LOSS_SCALE);
    Map<String, String> out = new LinkedHashMap<>();
    grads.forEach((p, grad) -> out.put(p, b.mul(grad, inverse)));
    return out;
  }

  /** 1 when any element of any gradient is infinite or NaN, else 0 (float32 scalar). */
  static String overflowFlag(GraphBuilder b, Map<String, String> grads) {
    List<String> perTensor = new ArrayList<>();
    for (String grad : grads.values()) {
      String bad = b.op("Or", b.op("IsInf", grad), b.op("IsNaN", grad));
      perTensor.add(b.op("ReduceMax", List.of(b.cast(bad, Tensors.FLOAT)), Attrs.i("keepdims", 0)));
    }
    String any = perTensor.size() == 1 ? perTensor.get(0) : b.op("Max", perTensor);
    b.opInto(GRAD_OVERFLOW, "Identity", List.of(any));
    return GRAD_OVERFLOW;
  }

  /**
   * Routes every parameter's and optimizer buffer's update through Where(overflow, old, new), so
   * that a step whose gradients overflowed leaves them bit for bit (GradScaler skips
   * optimizer.step()). BatchNorm statistics still move, as in PyTorch, where the forward pass that
   * updates them has run.
   */
  static void skipOnOverflow(Graph g, GraphBuilder b, List<StateSlot> state, String overflow) {
    Map<String, Node> producers = g.producers();
    String skip = b.cast(overflow, Tensors.BOOL);
    for (StateSlot s : state) {
      if (s.kind() == StateKind.STATISTIC) {
        continue;
      }
      Node update = producers.get(s.output());
      String unchecked = g.fresh(s.output() + ".unchecked");
      update.outputs().set(update.outputs().indexOf(s.output()), unchecked);
      b.opInto(s.output(), "Where", List.of(skip, s.input(), unchecked));
    }
  }

  /**
   * loss = α·ce + (1−α)·T²·mean over the batch of KL(p ‖ q), p = softmax(teacher/T),
   * q = softmax(student/T); the T² keeps the soft term's gradients the size of the hard term's
   * as T changes (Hinton, Vinyals and Dean 2015, section 2). KL is written out with log p, so
   * the loss is the divergence itself (zero when student and teacher agree), not only its
   * student-dependent part.
   */
  private static void distillationLoss(GraphBuilder b, TrainConfig.Distillation d, String ce, String logits) {
    String t = b.scalar(d.temperature(), Tensors.FLOAT);
    String logq = b.op("LogSoftmax", List.of(b.div(logits, t)), Attrs.i("axis", 1));
    String teacher = b.div(TEACHER_LOGITS, t);
    String logp = b.op("LogSoftmax", List.of(teacher), Attrs.i("axis", 1));
    String p = b.op("Softmax", List.of(teacher), Attrs.i("axis", 1));
    String kl = b.reduceSum(b.mul(p, b.sub(logp, logq)), false, 1);
    String soft = b.op("ReduceMean", List.of(kl), Attrs.i("keepdims", 0));
    double softWeight = (1 - d.alpha()) * d.temperature() * d.temperature();
    b.opInto(LOSS, "Add", List.of(b.mul(ce, b.scalar(d.alpha(), Tensors.FLOAT)),
        b.mul(soft, b.scalar(softWeight, Tensors.FLOAT))));
  }

  static List<String> select(ForwardModel forward, TrainableSet set) {
    if (set instanceof TrainableSet.All) {
      return new ArrayList<>(forward.parameters());
    }
    if (set instanceof TrainableSet.NamePattern np) {
      return forward.parameters().stream().filter(p -> np.pattern().matcher(p).find()).toList();
    }
    int n = ((TrainableSet.LastLayers) set).n();
    List<List<String>> layers = forward.parameterisedLayers();
    Set<String> chosen = new LinkedHashSet<>();
    for (int i = Math.max(0, layers.size() - n); i < layers.size(); i++) {
      chosen.addAll(layers.get(i));
    }
    return forward.parameters().stream().filter(chosen::contains).toList();
  }

  /**
   * Replaces every BatchNormalization by batch-statistics primitives (CUDA's BatchNormalization
   * kernel silently uses running statistics unless it has all five outputs), and returns the
   * name of each running statistic's updated value: momentum*old + (1-momentum)*batch, with the
   * unbiased variance as PyTorch does.
   */
  static Map<String, String> lowerBatchNorm(Graph g, GraphBuilder b, Map<String, TensorType> normalized) {
    return lowerBatchNorm(g, b, normalized, false);
  }

  /**
   * As {@link #lowerBatchNorm(Graph, GraphBuilder, Map)}; with {@code castToFloat32} the input is
   * 16-bit and is normalised in float32 with the float32 scale and bias, the result cast back to
   * the input's type, as cuDNN's batch norm does for PyTorch's half inputs: a mean and variance over
   * a whole batch lose too much in 16 bits, and the running statistics stay float32.
   */
  static Map<String, String> lowerBatchNorm(Graph g, GraphBuilder b, Map<String, TensorType> normalized,
      boolean castToFloat32) {
    var shapes = ShapeInference.run(g);
    Map<String, String> next = new LinkedHashMap<>();
    List<Node> original = new ArrayList<>(g.nodes());
    for (Node n : original) {
      if (!n.opType().equals("BatchNormalization")) {
        continue;
      }
      g.nodes().remove(n);
      long[] x = shapes.dims(n.input(0));
      long c = x[1];
      long count = 1;
      for (int i = 0; i < x.length; i++) {
        count *= i == 1 ? 1 : x[i];
      }
      double eps = n.attrFloat("epsilon", 1e-5f);
      double momentum = n.attrFloat("momentum", 0.9f);
      String in = castToFloat32 ? b.cast(n.input(0), Tensors.FLOAT) : n.input(0);
      String y = castToFloat32 ? g.fresh(n.output(0) + "_float32") : n.output(0);
      List<String> norm = NormalizationRules.normalize(b, in, n.input(1), n.input(2), y, eps);
      normalized.put(in, new TensorType(castToFloat32 ? Tensors.FLOAT : shapes.type(n.input(0)).elemType(), x));
      String mean = norm.get(1);
      String var = norm.get(2);
      if (castToFloat32) {
        b.opInto(n.output(0), "Cast", List.of(y), Attrs.i("to", shapes.type(n.input(0)).elemType()));
      }
      String m = b.scalar(momentum, Tensors.FLOAT);
      String oneMinus = b.scalar(1 - momentum, Tensors.FLOAT);
      next.put(n.input(3), b.add(b.mul(n.input(3), m), b.mul(b.reshape(mean, c), oneMinus)));
      double unbias = count > 1 ? (double) count / (count - 1) : 1.0;
      next.put(n.input(4), b.add(b.mul(n.input(4), m),
          b.mul(b.reshape(var, c), b.scalar((1 - momentum) * unbias, Tensors.FLOAT))));
    }
    g.sortTopologically();
    return next;
  }

  /** Dropout with a positive ratio runs in training mode and keeps its mask for the backward. */
  static void enableDropout(Graph g, GraphBuilder b) {
    for (Node n : g.nodes()) {
      if (!n.opType().equals("Dropout")) {
        continue;
      }
      TensorProto ratio = n.input(1).isEmpty() ? null : g.initializers().get(n.input(1));
      double r = ratio == null ? (n.input(1).isEmpty() ? 0.5 : -1) : Tensors.toDoubles(ratio)[0];
      if (r == 0) {
        continue;
      }
      while (n.inputs().size() < 3) {
        n.inputs().add(n.inputs().size() == 1 ? b.scalar(0.5, Tensors.FLOAT) : "");
      }
      TensorProto yes = TensorProto.newBuilder().setName(g.fresh("train/dropout_on")).setDataType(Tensors.BOOL)
          .addInt32Data(1).build();
      g.addInitializer(yes);
      n.inputs().set(2, yes.getName());
      if (n.outputs().size() < 2) {
        n.outputs().add(g.fresh(n.output(0) + "_mask"));
      }
    }
  }

  /** g *= min(1, maxNorm / (sqrt(sum of squares of all gradients) + 1e-6)), as torch clip_grad_norm_. */
  static Map<String, String> clipByGlobalNorm(GraphBuilder b, Map<String, String> grads, double maxNorm) {
    List<String> squares = new ArrayList<>();
    for (String g : grads.values()) {
      squares.add(b.reduceSumAll(b.mul(g, g)));
    }
    String norm = b.sqrt(b.sum(squares));
    String coef = b.div(b.scalar(maxNorm, Tensors.FLOAT), b.add(norm, b.scalar(1e-6, Tensors.FLOAT)));
    String clamped = b.op("Min", coef, b.scalar(1, Tensors.FLOAT));
    Map<String, String> out = new LinkedHashMap<>();
    grads.forEach((p, g) -> out.put(p, b.mul(g, clamped)));
    return out;
  }
}
