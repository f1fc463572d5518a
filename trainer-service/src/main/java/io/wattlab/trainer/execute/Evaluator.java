package io.wattlab.trainer.execute;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.wattlab.trainer.data.Split;
import io.wattlab.trainer.data.batch.Batch;
import io.wattlab.trainer.data.batch.BatchIterator;
import io.wattlab.trainer.data.batch.BatchLoader;
import io.wattlab.trainer.onnx.Tensors;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.ForwardModel;
import io.wattlab.trainer.train.ModelExport;
import io.wattlab.trainer.train.Sessions;
import io.wattlab.trainer.train.TrainingException;

import java.nio.FloatBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * Evaluates a training state on a split with the eval graph (BatchNorm on running statistics):
 * one session for the whole run, the state given as inputs. The graph's batch size is fixed, so a
 * short last batch is padded and the padding's outputs are ignored.
 */
public final class Evaluator implements AutoCloseable {

    private static final long SAMPLE_SEED = 0x5A4D;

    private final ForwardModel forward;
    private final OrtSession session;
    private final int batchSize;
    private final int classes;

    public Evaluator(ForwardModel forward, int batchSize, int classes, ExecutionConfig execution) {
        this.forward = forward;
        this.batchSize = batchSize;
        this.classes = classes;
        this.session = Sessions.open(ModelExport.evalGraph(forward), execution);
    }

    /**
     * Metrics of {@code state} on {@code split}, or on a fixed seeded sample of {@code limit} of its
     * images (the same sample every call, so epochs compare), all of them when limit ≤ 0.
     */
    public ClassificationMetrics.Result evaluate(Map<String, float[]> state, Split split, int limit) {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        Map<String, OnnxTensor> inputs = new HashMap<>();
        ClassificationMetrics metrics = new ClassificationMetrics(classes);
        int wanted = limit <= 0 ? split.size() : Math.min(limit, split.size());
        try {
            for (var e : state.entrySet()) {
                var init = forward.graph().initializers().get(e.getKey());
                if (init != null) {
                    inputs.put(e.getKey(), OnnxTensor.createTensor(env, FloatBuffer.wrap(e.getValue()), Tensors.dims(init)));
                }
            }
            int length = split.imageShape().length();
            float[] images = new float[batchSize * length];
            long[] shape = {batchSize, split.imageShape().channels(), split.imageShape().height(),
                    split.imageShape().width()};
            int seen = 0;
            boolean sample = wanted < split.size();
            BatchLoader loader = new BatchLoader(split, batchSize, sample, false, SAMPLE_SEED, r -> {
                Thread t = new Thread(r, "eval batches " + split.name());
                t.setDaemon(true);
                return t;
            });
            try (BatchIterator batches = loader.epoch(0)) {
                while (batches.hasNext() && seen < wanted) {
                    Batch b = batches.next();
                    int count = Math.min(b.size(), wanted - seen);
                    System.arraycopy(b.images(), 0, images, 0, count * length);
                    java.util.Arrays.fill(images, count * length, images.length, 0f);
                    try (OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(images), shape)) {
                        inputs.put(forward.input(), x);
                        try (OrtSession.Result r = session.run(inputs, Set.of(forward.logits()))) {
                            FloatBuffer logits = ((OnnxTensor) r.get(0)).getFloatBuffer();
                            float[] values = new float[count * classes];
                            logits.get(values);
                            metrics.add(values, b.labels(), count);
                        }
                    }
                    seen += count;
                }
            }
        } catch (OrtException e) {
            throw new TrainingException("evaluation on " + split.name() + " failed: " + e.getMessage());
        } finally {
            inputs.remove(forward.input());
            inputs.values().forEach(OnnxTensor::close);
        }
        return metrics.result();
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            // Closing frees native memory only; nothing to report to the run.
        }
    }
}
