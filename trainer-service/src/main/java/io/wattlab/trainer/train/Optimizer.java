package io.wattlab.trainer.train;

/** An optimizer whose update is emitted as graph nodes; the learning rate is a graph input. */
public sealed interface Optimizer permits Optimizer.Sgd, Optimizer.AdamW {

  /** SGD with PyTorch's semantics (dampening 0): buf = m*buf + (g + wd*p); p -= lr * (nesterov ? g + m*buf : buf). */
  record Sgd(double momentum, boolean nesterov, double weightDecay) implements Optimizer {
    public Sgd {
      if (momentum < 0 || weightDecay < 0) {
        throw new IllegalArgumentException("momentum and weightDecay must be >= 0");
      }
      if (nesterov && momentum == 0) {
        throw new IllegalArgumentException("Nesterov momentum needs momentum > 0");
      }
    }
  }

  /** AdamW with PyTorch's semantics: decoupled weight decay p *= 1 - lr*wd, bias-corrected moments. */
  record AdamW(double beta1, double beta2, double epsilon, double weightDecay) implements Optimizer {
    public static AdamW defaults() {
      return new AdamW(0.9, 0.999, 1e-8, 0.01);
    }
  }
}
