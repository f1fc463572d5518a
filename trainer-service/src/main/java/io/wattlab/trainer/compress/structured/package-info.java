/**
 * Technique {@code prune_structured}: removes whole Conv filters and Gemm/MatMul units by the norm
 * of their weights and shrinks every tensor that holds those channels, so that the smaller model
 * really does less work. {@code ChannelAnalysis} finds the
 * channel groups that must be cut together; {@code ChannelSurgery}
 * cuts them.
 */
package io.wattlab.trainer.compress.structured;
