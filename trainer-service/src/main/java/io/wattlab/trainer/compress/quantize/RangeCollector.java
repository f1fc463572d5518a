package io.wattlab.trainer.compress.quantize;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.compress.ActivationRanges;
import io.wattlab.trainer.compress.CompressionException;
import io.wattlab.trainer.data.Split;
import io.wattlab.trainer.data.batch.BatchLoader;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.Sessions;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Measures activation ranges for a {@link io.wattlab.trainer.compress.CalibratedPass}: the fp32
 * model, with the wanted tensors added as extra outputs, runs on a seeded sample of calibration
 * images, and each tensor's min and max over all of them is kept (the "minmax" calibration), or
 * the range holding a given percentage of its values ("percentile").
 * This is the part of static quantization that runs the model, kept out of the pass.
 */
public final class RangeCollector {

  private RangeCollector() {}

  /** Min/max calibration: every value of every image counts. */
  public static ActivationRanges collect(ModelProto model, Set<String> tensors, Split split, int images, int batchSize,
      long seed, ExecutionConfig execution) {
    return collect(model, tensors, split, images, batchSize, seed, 100, execution);
  }

  /**
   * @param model the fp32 inference model (one image input [N, C, H, W])
   * @param tensors the value names to measure
   * @param split where the images come from (the training split; its transforms apply)
   * @param images how many images, at most the split's size
   * @param batchSize images per run
   * @param seed picks the sample
   * @param percentile below 100, a second run histograms each tensor over its min..max in
   *     {@value #BINS} bins and the range keeps this percentage of the values, cutting
   *     (100 − percentile) / 2 percent from each tail (outliers then saturate instead of coarsening
   *     the scale for every other value)
   * @throws CompressionException when ONNX Runtime cannot run the model or a tensor is not produced
   */
  public static ActivationRanges collect(ModelProto model, Set<String> tensors, Split split, int images, int batchSize,
      long seed, double percentile, ExecutionConfig execution) {
    if (tensors.isEmpty()) {
      return ActivationRanges.none();
    }
    int count = Math.min(images, split.size());
    int batch = Math.min(batchSize, count);
    List<String> names = new ArrayList<>(tensors);
    float[] min = new float[names.size()];
    float[] max = new float[names.size()];
    java.util.Arrays.fill(min, Float.POSITIVE_INFINITY);
    java.util.Arrays.fill(max, Float.NEGATIVE_INFINITY);
    ModelProto probed = withOutputs(withBatch(model, batch), tensors);
    try (OrtSession session = Sessions.open(probed, execution)) {
      run(session, probed, names, split, count, batch, seed, (i, values, used) -> {
        for (int k = 0; k < used; k++) {
          float f = values.get(k);
          min[i] = Math.min(min[i], f);
          max[i] = Math.max(max[i], f);
        }
      });
      for (int i = 0; i < names.size(); i++) {
        if (!(Float.isFinite(min[i]) && Float.isFinite(max[i]))) {
          throw new CompressionException("calibration: tensor " + names.get(i) + " took the value "
              + (Float.isFinite(min[i]) ? max[i] : min[i]) + " on the calibration images; it cannot be quantized");
        }
      }
      Map<String, ActivationRanges.Range> ranges = new HashMap<>();
      if (percentile >= 100) {
        for (int i = 0; i < names.size(); i++) {
          ranges.put(names.get(i), new ActivationRanges.Range(min[i], max[i]));
        }
        return new ActivationRanges(ranges, count);
      }
      long[][] histograms = new long[names.size()][BINS];
      run(session, probed, names, split, count, batch, seed, (i, values, used) -> {
        double width = (max[i] - min[i]) / (double) BINS;
        for (int k = 0; k < used; k++) {
          int bin = width > 0 ? (int) ((values.get(k) - min[i]) / width) : 0;
          histograms[i][Math.max(0, Math.min(BINS - 1, bin))]++;
        }
      });
      double tail = (100 - percentile) / 200;
      for (int i = 0; i < names.size(); i++) {
        ranges.put(names.get(i), cut(histograms[i], min[i], max[i], tail));
      }
      return new ActivationRanges(ranges, count);
    } catch (OrtException e) {
      throw new CompressionException("calibration run of " + model.getGraph().getName() + " failed: " + e.getMessage(),
          e);
    }
  }

  /** Histogram bins of percentile calibration. */
  static final int BINS = 2048;

  /** The range left after dropping {@code tail} of the values from each end (bin edges, so it never exceeds min..max). */
  private static ActivationRanges.Range cut(long[] histogram, float min, float max, double tail) {
    long total = 0;
    for (long c : histogram) {
      total += c;
    }
    double width = (max - min) / (double) BINS;
    long drop = (long) Math.floor(total * tail);
    int lo = 0;
    long seen = 0;
    while (lo < BINS - 1 && seen + histogram[lo] <= drop) {
      seen += histogram[lo++];
    }
    int hi = BINS - 1;
    seen = 0;
    while (hi > lo && seen + histogram[hi] <= drop) {
      seen += histogram[hi--];
    }
    return new ActivationRanges.Range((float) (min + lo * width), (float) Math.min(max, min + (hi + 1) * width));
  }

  /** What a calibration run does with tensor i's values of one batch: the first {@code used} belong to real images. */
  private interface Visitor {
    void visit(int tensor, FloatBuffer values, int used);
  }

  /** Runs the calibration images through the session, the same images in the same order every time. */
  private static void run(OrtSession session, ModelProto probed, List<String> names, Split split, int count, int batch,
      long seed, Visitor visitor) throws OrtException {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    String input = probed.getGraph().getInput(0).getName();
    // BatchLoader's seeded shuffle picks the sample; its thread factory is never used for an order.
    int[] order = new BatchLoader(split, batch, true, false, seed, Thread::new).order(0);
    int length = split.imageShape().length();
    float[] pixels = new float[batch * length];
    long[] labels = new long[batch];
    long[] shape = {batch, split.imageShape().channels(), split.imageShape().height(), split.imageShape().width()};
    for (int from = 0; from < count; from += batch) {
      int n = Math.min(batch, count - from);
      java.util.Arrays.fill(pixels, 0f);
      split.fill(order, from, n, pixels, labels, seed + from);
      try (OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(pixels), shape);
           OrtSession.Result r = session.run(Map.of(input, x), new HashSet<>(names))) {
        for (int i = 0; i < names.size(); i++) {
          OnnxValue v = r.get(names.get(i)).orElseThrow(() -> new CompressionException("calibration: "
              + "the model did not produce a requested tensor"));
          FloatBuffer values = ((OnnxTensor) v).getFloatBuffer();
          // Rows past n are padding images; the tensor's first dimension is the batch.
          visitor.visit(i, values, values.remaining() / batch * n);
        }
      }
    }
  }

  /** The model with its image input's batch dimension fixed (a fixed shape lets ONNX Runtime plan memory). */
  public static ModelProto withBatch(ModelProto model, int batch) {
    ModelProto.Builder m = model.toBuilder();
    Set<String> initializers = new HashSet<>();
    model.getGraph().getInitializerList().forEach(t -> initializers.add(t.getName()));
    for (int i = 0; i < m.getGraph().getInputCount(); i++) {
      ValueInfoProto in = m.getGraph().getInput(i);
      if (!initializers.contains(in.getName())) {
        TensorShapeProto.Builder shape = m.getGraphBuilder().getInputBuilder(i).getTypeBuilder().getTensorTypeBuilder()
            .getShapeBuilder();
        if (shape.getDimCount() > 0) {
          shape.setDim(0, TensorShapeProto.Dimension.newBuilder().setDimValue(batch));
        }
        break;
      }
    }
    return m.build();
  }

  private static ModelProto withOutputs(ModelProto model, Set<String> tensors) {
    ModelProto.Builder m = model.toBuilder();
    Set<String> present = new HashSet<>();
    m.getGraph().getOutputList().forEach(o -> present.add(o.getName()));
    for (String t : tensors) {
      if (present.add(t)) {
        m.getGraphBuilder().addOutput(ValueInfoProto.newBuilder().setName(t).setType(TypeProto.newBuilder()
            .setTensorType(TypeProto.Tensor.newBuilder().setElemType(Tensors.FLOAT))));
      }
    }
    return m.build();
  }
}
