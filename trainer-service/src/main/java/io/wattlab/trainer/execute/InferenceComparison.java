package io.wattlab.trainer.execute;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.wattlab.proto.v1.EnergySummary;
import io.wattlab.trainer.compress.quantize.RangeCollector;
import io.wattlab.trainer.data.Split;
import io.wattlab.trainer.data.batch.Batch;
import io.wattlab.trainer.data.batch.BatchIterator;
import io.wattlab.trainer.data.batch.BatchLoader;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.Sessions;
import io.wattlab.trainer.train.TrainingException;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The evaluate-only comparison of an inference-only compression (int8): the model as loaded and
 * the compressed one, each in a plain ONNX Runtime session at the run's batch size, timed on the
 * same test images. Everything that is not inference (opening and warming the sessions, decoding
 * the images) happens in {@link #prepare}, so that a variant's meter window holds its inferences.
 */
final class InferenceComparison implements AutoCloseable {

    /** The baseline's name in reports and run events. */
    static final String BASELINE = "fp32";

    /** One variant's pass over the test images: accuracy and the time spent in {@code OrtSession.run}. */
    record Result(ClassificationMetrics.Result metrics, long images, int batches, double inferenceSeconds) {

        double msPerImage() {
            return images == 0 ? 0 : inferenceSeconds * 1000 / images;
        }

        double msPerBatch() {
            return batches == 0 ? 0 : inferenceSeconds * 1000 / batches;
        }
    }

    /** A variant's result with the energy of its window. */
    record Measured(Result result, EnergySummary energy) {

        double joulesPer1000() {
            return energy.getEnergyJoules() / result.images() * 1000;
        }

        double netJoulesPer1000() {
            return energy.getNetEnergyJoules() / result.images() * 1000;
        }

        /** The fields of the variant's {@code run_inference} point (docs/run-events.md). */
        Map<String, Object> fields() {
            Map<String, Object> f = new LinkedHashMap<>();
            f.put("top1", result.metrics().top1());
            f.put("images", result.images());
            f.put("ms_per_image", result.msPerImage());
            f.put("ms_per_batch", result.msPerBatch());
            f.put("joules_per_1000_inferences", joulesPer1000());
            f.put("net_joules_per_1000_inferences", netJoulesPer1000());
            return f;
        }
    }

    private final Map<String, OrtSession> sessions = new LinkedHashMap<>();
    private final Map<String, String> inputs = new LinkedHashMap<>();
    private final List<Batch> batches;
    private final int batchSize;
    private final int classes;

    private InferenceComparison(List<Batch> batches, int batchSize, int classes) {
        this.batches = batches;
        this.batchSize = batchSize;
        this.classes = classes;
    }

    /**
     * Opens both sessions, decodes the test split into batches and runs each model once on the
     * first batch (ONNX Runtime allocates and plans on the first run).
     */
    static InferenceComparison prepare(ModelProto baseline, ModelProto compressed, String variant, Split test,
                                       int batchSize, int classes, ExecutionConfig execution) {
        List<Batch> batches = new ArrayList<>();
        try (BatchIterator it = BatchLoader.evaluation(test, batchSize).epoch(0)) {
            it.forEachRemaining(batches::add);
        }
        InferenceComparison c = new InferenceComparison(batches, batchSize, classes);
        try {
            c.open(BASELINE, baseline, execution);
            c.open(variant, compressed, execution);
            for (String v : c.variants()) {
                c.run(v, batches.subList(0, Math.min(1, batches.size())));
            }
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
        return c;
    }

    private void open(String variant, ModelProto model, ExecutionConfig execution) {
        ModelProto fixed = RangeCollector.withBatch(model, batchSize);
        sessions.put(variant, Sessions.open(fixed, execution));
        inputs.put(variant, fixed.getGraph().getInput(0).getName());
    }

    /** The baseline first, then the compressed variant. */
    List<String> variants() {
        return List.copyOf(sessions.keySet());
    }

    /** {@code passes} passes of a variant over all the test images (top-1 is the same in each). */
    Result run(String variant, int passes) {
        List<Batch> all = new ArrayList<>();
        for (int i = 0; i < passes; i++) {
            all.addAll(batches);
        }
        return run(variant, all);
    }

    private Result run(String variant, List<Batch> which) {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession session = sessions.get(variant);
        ClassificationMetrics metrics = new ClassificationMetrics(classes);
        long nanos = 0;
        long images = 0;
        try {
            for (Batch b : which) {
                float[] pixels = b.images();
                long[] shape = b.imagesTensorShape().clone();
                if (b.size() < batchSize) {
                    // The sessions' batch size is fixed; the padding's outputs are not counted.
                    pixels = java.util.Arrays.copyOf(pixels, batchSize * b.imageShape().length());
                    shape[0] = batchSize;
                }
                try (OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(pixels), shape)) {
                    long start = System.nanoTime();
                    try (OrtSession.Result r = session.run(Map.of(inputs.get(variant), x))) {
                        nanos += System.nanoTime() - start;
                        FloatBuffer logits = ((OnnxTensor) r.get(0)).getFloatBuffer();
                        float[] values = new float[b.size() * classes];
                        logits.get(values);
                        metrics.add(values, b.labels(), b.size());
                    }
                }
                images += b.size();
            }
        } catch (OrtException e) {
            throw new TrainingException("inference of the " + variant + " model failed: " + e.getMessage());
        }
        return new Result(metrics.result(), images, which.size(), nanos / 1e9);
    }

    /**
     * The report's {@code compression} entries for both variants: top-1, ms per image and per
     * batch, joules per 1,000 inferences raw and net of idle power, and compressed/baseline ratios.
     */
    static Map<String, String> entries(Map<String, Measured> measured) {
        Map<String, String> m = new LinkedHashMap<>();
        Measured base = measured.get(BASELINE);
        measured.forEach((variant, x) -> {
            m.put(variant + "_top1", f(x.result().metrics().top1()));
            m.put(variant + "_ms_per_image", f(x.result().msPerImage()));
            m.put(variant + "_ms_per_batch", f(x.result().msPerBatch()));
            m.put(variant + "_seconds", f(x.energy().getDurationSeconds()));
            m.put(variant + "_joules_per_1000_inferences", f(x.joulesPer1000()));
            m.put(variant + "_net_joules_per_1000_inferences", f(x.netJoulesPer1000()));
        });
        m.put("inferences", Long.toString(base.result().images()));
        measured.forEach((variant, x) -> {
            if (!variant.equals(BASELINE)) {
                String key = variant + "_to_" + BASELINE + "_";
                ratio(m, key + "ms_per_image", x.result().msPerImage(), base.result().msPerImage());
                ratio(m, key + "joules_per_1000_inferences", x.joulesPer1000(), base.joulesPer1000());
                ratio(m, key + "net_joules_per_1000_inferences", x.netJoulesPer1000(), base.netJoulesPer1000());
            }
        });
        return m;
    }

    /** A ratio only where the baseline is above zero (net energy of a short window can be 0). */
    private static void ratio(Map<String, String> m, String key, double value, double baseline) {
        if (baseline > 0) {
            m.put(key, f(value / baseline));
        }
    }

    private static String f(double v) {
        return String.format(Locale.ROOT, "%.4f", v);
    }

    @Override
    public void close() {
        for (OrtSession s : sessions.values()) {
            try {
                s.close();
            } catch (OrtException e) {
                // Closing frees native memory only.
            }
        }
    }
}
