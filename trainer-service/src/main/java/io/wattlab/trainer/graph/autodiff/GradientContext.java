package io.wattlab.trainer.graph.autodiff;

import io.wattlab.trainer.graph.GraphBuilder;
import io.wattlab.trainer.graph.GraphException;
import io.wattlab.trainer.graph.Node;
import io.wattlab.trainer.graph.ShapeInference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What a {@link GradientRule} sees of one forward node: its inputs I(i), outputs O(i), the
 * incoming gradients GO(i), the gradients GI(i) it must set, shapes, and the graph vocabulary.
 */
public final class GradientContext {
  private final Node node;
  private final GraphBuilder b;
  private final ShapeInference shapes;
  private final String[] go;
  private final boolean[] needed;
  private final String[] gi;

  GradientContext(Node node, GraphBuilder b, ShapeInference shapes, String[] go, boolean[] needed) {
    this.node = node;
    this.b = b;
    this.shapes = shapes;
    this.go = go;
    this.needed = needed;
    this.gi = new String[needed.length];
  }

  /** The forward node being differentiated; read its attributes from here. */
  public Node node() {
    return node;
  }

  /** The graph-building vocabulary. */
  public GraphBuilder b() {
    return b;
  }

  public String I(int i) {
    return node.input(i);
  }

  public String O(int i) {
    return node.output(i);
  }

  /** The gradient flowing into output i, or null when nothing downstream uses that output. */
  public String GO(int i) {
    return i < go.length ? go[i] : null;
  }

  /** The gradient into output i, or zeros of its shape when it has none. */
  public String GOorZeros(int i) {
    String g = GO(i);
    return g != null ? g : zeros(dims(O(i)));
  }

  /** Whether input i needs a gradient (it leads back to a trainable value). */
  public boolean needs(int i) {
    return i < needed.length && needed[i];
  }

  /** Sets the gradient for input i; ignored when that input needs none. */
  public void GI(int i, String gradient) {
    if (needs(i)) {
      gi[i] = gradient;
    }
  }

  String[] results() {
    return gi;
  }

  public long[] dims(String value) {
    return shapes.dims(value);
  }

  public int elemType() {
    return shapes.type(I(0)).elemType();
  }

  public ShapeInference shapes() {
    return shapes;
  }

  /** A scalar constant of the node's floating type. */
  public String scalar(double v) {
    return b.scalar(v, elemType());
  }

  public String zeros(long[] dims) {
    return b.expand(scalar(0), dims);
  }

  /**
   * Zeros of a value's own shape and element type, for nodes whose input 0 is not the floating
   * operand (Where's is its boolean condition, of which {@link #scalar} cannot make a zero).
   */
  public String zerosLike(String value) {
    return b.expand(b.scalar(0, shapes.type(value).elemType()), dims(value));
  }

  /** Sums a gradient of shape g (broadcast result) back to the shape of the operand it came from. */
  public String sumToShape(String grad, long[] g, long[] target) {
    if (Arrays.equals(g, target)) {
      return grad;
    }
    int lead = g.length - target.length;
    List<Long> axes = new ArrayList<>();
    for (int i = 0; i < g.length; i++) {
      if (i < lead || (target[i - lead] == 1 && g[i] != 1)) {
        axes.add((long) i);
      }
    }
    String r = axes.isEmpty() ? grad
        : b.reduceSumKeepDims(grad, g.length, axes.stream().mapToLong(Long::longValue).toArray());
    return b.reshape(r, target);
  }

  /** Makes sure the forward node computes output i (e.g. MaxPool indices) and returns its name. */
  public String ensureOutput(int i, long[] dims, int elemType) {
    while (node.outputs().size() <= i) {
      node.outputs().add("");
    }
    if (node.output(i).isEmpty()) {
      String name = b.graph().fresh(node.output(0) + "_out" + i);
      node.outputs().set(i, name);
      shapes.types().put(name, new io.wattlab.trainer.graph.TensorType(elemType, dims));
    }
    return node.output(i);
  }

  /** Error for a rule that cannot handle this node's attributes. */
  public GraphException unsupported(String why) {
    return new GraphException(node.describe() + ": gradient not supported: " + why);
  }
}
