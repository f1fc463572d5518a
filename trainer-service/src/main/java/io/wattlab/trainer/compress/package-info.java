/**
 * Compression techniques as graph passes ({@link io.wattlab.trainer.compress.CompressionPass}):
 * an ONNX inference model in, a compressed one out, plus a {@link io.wattlab.trainer.compress.PassReport}
 * and the {@link io.wattlab.trainer.train.ParameterConstraint}s that keep the compression true
 * through fine-tuning. {@link io.wattlab.trainer.compress.Techniques} maps the names
 * {@code spec.compression.technique} takes to passes; each technique has its own package below.
 */
package io.wattlab.trainer.compress;
