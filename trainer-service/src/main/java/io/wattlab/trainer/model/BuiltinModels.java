package io.wattlab.trainer.model;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.wattlab.trainer.graph.Attrs;
import io.wattlab.trainer.graph.Graph;
import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.TensorType;
import io.wattlab.trainer.onnx.Tensors;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * Image classifiers generated as ONNX inference models in Java, so that a demo or a test needs no
 * downloaded model: a CIFAR-style ResNet and a MobileNetV2-style network, freshly initialised.
 *
 * <p>Every model has one input {@code images} [N, C, H, W] with N left open (the engine fixes it
 * per train graph) and one output {@code logits} [N, classes]; BatchNormalization nodes are kept
 * (the engine trains them). Convolutions get He/Kaiming normal initialisation for ReLU in
 * fan-out mode (as torchvision's ResNet and MobileNetV2), BatchNorm γ = 1 and β = 0, the Gemm head
 * PyTorch's Linear default U(−1/√in, 1/√in). The same seed gives the same bytes.
 */
public final class BuiltinModels {

  /** The image input's name in every built-in model. */
  public static final String INPUT = "images";
  /** The logits output's name in every built-in model. */
  public static final String OUTPUT = "logits";

  /** Opset of the generated graphs: the engine's training opset, so no upgrade is needed. */
  static final int OPSET = 17;

  private static final Map<String, Function<Spec, Graph>> MODELS = new TreeMap<>(Map.of(
      "resnet-cifar", BuiltinModels::resnetCifar,
      "mobilenet-cifar", BuiltinModels::mobilenetCifar));

  private BuiltinModels() {}

  /** The names {@link #create} takes, sorted. */
  public static List<String> names() {
    return List.copyOf(MODELS.keySet());
  }

  /** A built-in model initialised with seed 0. */
  public static ModelProto create(String name, int numClasses, int channels, int height, int width) {
    return create(name, numClasses, channels, height, width, 0L);
  }

  /**
   * A freshly initialised built-in model.
   *
   * @throws IllegalArgumentException for an unknown name (the message lists the known ones) or a
   *     non-positive size or class count
   */
  public static ModelProto create(String name, int numClasses, int channels, int height, int width, long seed) {
    Function<Spec, Graph> builder = MODELS.get(name);
    if (builder == null) {
      throw new IllegalArgumentException("unknown built-in model '" + name + "' (known: "
          + String.join(", ", MODELS.keySet()) + ")");
    }
    if (numClasses < 2 || channels < 1 || height < 1 || width < 1) {
      throw new IllegalArgumentException("built-in model " + name + " needs at least 2 classes and a positive "
          + "image size; got " + numClasses + " classes and " + channels + "×" + height + "×" + width + " images");
    }
    Graph g = builder.apply(new Spec(numClasses, channels, height, width, seed));
    g.setName(name);
    return g.toModel();
  }

  /**
   * The model with its final Gemm replaced by a freshly initialised one of {@code numClasses}
   * outputs, for fine-tuning on a dataset with another class count; everything else is kept.
   *
   * @throws IllegalArgumentException when the model has no Gemm whose weight is an initializer
   */
  public static ModelProto withNewHead(ModelProto model, int numClasses, long seed) {
    if (numClasses < 2) {
      throw new IllegalArgumentException("a classifier head needs at least 2 classes, got " + numClasses);
    }
    Graph g = Graph.fromModel(model);
    Node head = null;
    for (Node n : g.nodes()) {
      if (n.opType().equals("Gemm") && g.initializers().containsKey(n.input(1))) {
        head = n;
      }
    }
    if (head == null) {
      throw new IllegalArgumentException("model " + g.name() + " has no Gemm with a stored weight to replace "
          + "(withNewHead needs a classifier ending in Gemm)");
    }
    long[] oldDims = Tensors.dims(g.initializers().get(head.input(1)));
    boolean transB = head.attrInt("transB", 0) == 1;
    long in = transB ? oldDims[1] : oldDims[0];
    long oldOut = transB ? oldDims[0] : oldDims[1];
    Random random = new Random(seed);
    float bound = (float) (1 / Math.sqrt(in));
    float[] weight = uniform(random, (int) (in * numClasses), bound);
    long[] dims = transB ? new long[] {numClasses, in} : new long[] {in, numClasses};
    g.addInitializer(Tensors.floats(head.input(1), dims, weight));
    if (head.inputs().size() > 2 && !head.input(2).isEmpty()) {
      g.addInitializer(Tensors.floats(head.input(2), new long[] {numClasses}, uniform(random, numClasses, bound)));
    }
    // The head's output reaches the graph output unchanged in shape (maybe through Softmax or Identity).
    g.outputs().replaceAll((name, t) -> {
      if (t.rank() == 2 && t.dim(1) == oldOut) {
        return t.withDims(new long[] {t.dim(0), numClasses});
      }
      return t;
    });
    return g.toModel();
  }

  /** What every builder gets. */
  private record Spec(int classes, int channels, int height, int width, long seed) {}

  // ---- resnet-cifar: He et al. 2016, section 4.2, n = 3 (ResNet-20), projection shortcuts ----

  private static Graph resnetCifar(Spec spec) {
    Layers l = new Layers(spec);
    String x = l.convBn(INPUT, spec.channels(), 16, 3, 1, 1, "stem");
    x = l.relu(x);
    int in = 16;
    int[] widths = {16, 32, 64};
    for (int stage = 0; stage < widths.length; stage++) {
      for (int block = 0; block < 3; block++) {
        int stride = stage > 0 && block == 0 ? 2 : 1;
        x = basicBlock(l, x, in, widths[stage], stride, "layer" + (stage + 1) + "." + block);
        in = widths[stage];
      }
    }
    return l.head(x, in);
  }

  private static String basicBlock(Layers l, String x, int in, int out, int stride, String name) {
    String y = l.relu(l.convBn(x, in, out, 3, stride, 1, name + ".conv1"));
    y = l.convBn(y, out, out, 3, 1, 1, name + ".conv2");
    String shortcut = stride == 1 && in == out ? x : l.convBn(x, in, out, 1, stride, 1, name + ".downsample");
    return l.relu(l.b.add(y, shortcut));
  }

  // ---- mobilenet-cifar: Sandler et al. 2018 inverted residuals, narrowed for 32×32 images ----

  /** (expansion t, output channels c, repeats n, first stride s), as in the MobileNetV2 paper's table 2. */
  private static final int[][] MOBILENET_BLOCKS = {
      {1, 16, 1, 1},
      {6, 24, 2, 1},
      {6, 32, 2, 2},
      {6, 64, 2, 2},
      {6, 96, 1, 1},
  };
  private static final int MOBILENET_STEM = 16;
  private static final int MOBILENET_LAST = 256;

  private static Graph mobilenetCifar(Spec spec) {
    Layers l = new Layers(spec);
    String x = l.relu6(l.convBn(INPUT, spec.channels(), MOBILENET_STEM, 3, 1, 1, "stem"));
    int in = MOBILENET_STEM;
    int index = 0;
    for (int[] row : MOBILENET_BLOCKS) {
      for (int r = 0; r < row[2]; r++) {
        x = invertedResidual(l, x, in, row[1], row[0], r == 0 ? row[3] : 1, "block" + index++);
        in = row[1];
      }
    }
    x = l.relu6(l.convBn(x, in, MOBILENET_LAST, 1, 1, 1, "last"));
    return l.head(x, MOBILENET_LAST);
  }

  private static String invertedResidual(Layers l, String x, int in, int out, int expansion, int stride,
      String name) {
    int hidden = in * expansion;
    String y = x;
    if (expansion != 1) {
      y = l.relu6(l.convBn(y, in, hidden, 1, 1, 1, name + ".expand"));
    }
    y = l.relu6(l.convBn(y, hidden, hidden, 3, stride, hidden, name + ".depthwise"));
    y = l.convBn(y, hidden, out, 1, 1, 1, name + ".project");
    return stride == 1 && in == out ? l.b.add(x, y) : y;
  }

  /** Layer helpers over one graph, with one seeded random source for all weights. */
  private static final class Layers {
    final Graph g = new Graph(OPSET);
    final GraphBuilder b = new GraphBuilder(g, "");
    final Random random;
    final Spec spec;

    Layers(Spec spec) {
      this.spec = spec;
      this.random = new Random(spec.seed());
      g.addInput(INPUT, new TensorType(Tensors.FLOAT, new long[] {-1, spec.channels(), spec.height(), spec.width()}));
    }

    /** Conv (no bias: BatchNorm follows) then BatchNormalization; pads keep the size at stride 1. */
    String convBn(String x, int in, int out, int kernel, int stride, int groups, String name) {
      float std = (float) Math.sqrt(2.0 / ((double) out / groups * kernel * kernel));
      float[] w = new float[out * (in / groups) * kernel * kernel];
      for (int i = 0; i < w.length; i++) {
        w[i] = (float) random.nextGaussian() * std;
      }
      String weight = name + ".weight";
      g.addInitializer(Tensors.floats(weight, new long[] {out, in / groups, kernel, kernel}, w));
      long pad = kernel / 2;
      String y = b.op("Conv", List.of(x, weight), Attrs.ints("kernel_shape", kernel, kernel),
          Attrs.ints("strides", stride, stride), Attrs.ints("pads", pad, pad, pad, pad), Attrs.i("group", groups));
      String bn = name + ".bn";
      g.addInitializer(Tensors.floats(bn + ".weight", new long[] {out}, filled(out, 1f)));
      g.addInitializer(Tensors.floats(bn + ".bias", new long[] {out}, new float[out]));
      g.addInitializer(Tensors.floats(bn + ".running_mean", new long[] {out}, new float[out]));
      g.addInitializer(Tensors.floats(bn + ".running_var", new long[] {out}, filled(out, 1f)));
      return b.op("BatchNormalization", List.of(y, bn + ".weight", bn + ".bias", bn + ".running_mean",
          bn + ".running_var"), Attrs.f("epsilon", 1e-5), Attrs.f("momentum", 0.9));
    }

    String relu(String x) {
      return b.op("Relu", x);
    }

    String relu6(String x) {
      return b.op("Clip", x, b.scalar(0, Tensors.FLOAT), b.scalar(6, Tensors.FLOAT));
    }

    /** Global average pool, flatten, Gemm to the logits output. */
    Graph head(String x, int features) {
      String pooled = b.op("Flatten", List.of(b.op("GlobalAveragePool", x)), Attrs.i("axis", 1));
      float bound = (float) (1 / Math.sqrt(features));
      g.addInitializer(Tensors.floats("fc.weight", new long[] {spec.classes(), features},
          uniform(random, spec.classes() * features, bound)));
      g.addInitializer(Tensors.floats("fc.bias", new long[] {spec.classes()}, uniform(random, spec.classes(), bound)));
      b.opInto(OUTPUT, "Gemm", List.of(pooled, "fc.weight", "fc.bias"), Attrs.i("transB", 1));
      g.outputs().put(OUTPUT, new TensorType(Tensors.FLOAT, new long[] {-1, spec.classes()}));
      return g;
    }
  }

  private static float[] filled(int n, float value) {
    float[] a = new float[n];
    java.util.Arrays.fill(a, value);
    return a;
  }

  private static float[] uniform(Random random, int n, float bound) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = (random.nextFloat() * 2 - 1) * bound;
    }
    return a;
  }
}
