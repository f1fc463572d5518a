package io.wattlab.trainer.graph.autodiff;

import io.wattlab.trainer.onnx.Tensors;

/** Gradients of broadcasting arithmetic and simple unary ops. */
final class ElementwiseRules {
  private ElementwiseRules() {}

  static void register(GradientRegistry r) {
    r.register("Add", g -> {
      g.GI(0, g.sumToShape(g.GO(0), g.dims(g.O(0)), g.dims(g.I(0))));
      g.GI(1, g.sumToShape(g.GO(0), g.dims(g.O(0)), g.dims(g.I(1))));
    });
    r.register("Sub", g -> {
      g.GI(0, g.sumToShape(g.GO(0), g.dims(g.O(0)), g.dims(g.I(0))));
      if (g.needs(1)) {
        g.GI(1, g.b().neg(g.sumToShape(g.GO(0), g.dims(g.O(0)), g.dims(g.I(1)))));
      }
    });
    r.register("Mul", g -> {
      if (g.needs(0)) {
        g.GI(0, g.sumToShape(g.b().mul(g.GO(0), g.I(1)), g.dims(g.O(0)), g.dims(g.I(0))));
      }
      if (g.needs(1)) {
        g.GI(1, g.sumToShape(g.b().mul(g.GO(0), g.I(0)), g.dims(g.O(0)), g.dims(g.I(1))));
      }
    });
    r.register("Div", g -> {
      if (g.needs(0)) {
        g.GI(0, g.sumToShape(g.b().div(g.GO(0), g.I(1)), g.dims(g.O(0)), g.dims(g.I(0))));
      }
      if (g.needs(1)) {
        // d(a/b)/db = -(a/b)/b
        String t = g.b().neg(g.b().div(g.b().mul(g.GO(0), g.O(0)), g.I(1)));
        g.GI(1, g.sumToShape(t, g.dims(g.O(0)), g.dims(g.I(1))));
      }
    });
    r.register("Sum", g -> {
      for (int i = 0; i < g.node().inputs().size(); i++) {
        if (g.needs(i)) {
          g.GI(i, g.sumToShape(g.GO(0), g.dims(g.O(0)), g.dims(g.I(i))));
        }
      }
    });
    r.register("Neg", g -> g.GI(0, g.b().neg(g.GO(0))));
    r.register("Identity", g -> g.GI(0, g.GO(0)));
    r.register("Sqrt", g -> g.GI(0, g.b().div(g.b().mul(g.GO(0), g.scalar(0.5)), g.O(0))));
    r.register("Exp", g -> g.GI(0, g.b().mul(g.GO(0), g.O(0))));
    r.register("Reciprocal", g -> g.GI(0, g.b().neg(g.b().mul(g.GO(0), g.b().mul(g.O(0), g.O(0))))));
    r.register("Cast", g -> {
      int from = g.shapes().type(g.I(0)).elemType();
      if (!Tensors.isFloating(from)) {
        throw g.unsupported("cast from a non-floating type");
      }
      g.GI(0, g.b().cast(g.GO(0), from));
    });
    r.register("Expand", g -> g.GI(0, g.sumToShape(g.GO(0), g.dims(g.O(0)), g.dims(g.I(0)))));
    r.register("Where", g -> {
      // Where(cond, a, b): the condition is boolean and takes no gradient; zeros of the output's type.
      String zero = g.zerosLike(g.O(0));
      if (g.needs(1)) {
        g.GI(1, g.sumToShape(g.b().where(g.I(0), g.GO(0), zero), g.dims(g.O(0)), g.dims(g.I(1))));
      }
      if (g.needs(2)) {
        g.GI(2, g.sumToShape(g.b().where(g.I(0), zero, g.GO(0)), g.dims(g.O(0)), g.dims(g.I(2))));
      }
    });
    r.register("ReduceSum", g -> g.GI(0, ShapeRules.expandReduced(g, g.GO(0), 1.0)));
    r.register("ReduceMean", g -> {
      long[] x = g.dims(g.I(0));
      long count = 1;
      for (long a : g.shapes().reduceAxes(g.node())) {
        count *= x[(int) a];
      }
      g.GI(0, ShapeRules.expandReduced(g, g.GO(0), 1.0 / count));
    });
    r.register("Mean", g -> {
      int n = g.node().inputs().size();
      String scaled = g.b().mul(g.GO(0), g.scalar(1.0 / n));
      for (int i = 0; i < n; i++) {
        if (g.needs(i)) {
          g.GI(i, g.sumToShape(scaled, g.dims(g.O(0)), g.dims(g.I(i))));
        }
      }
    });
  }
}
