/**
 * Models the service offers without a file: {@link io.wattlab.trainer.model.BuiltinModels} generates
 * CIFAR-style ResNet and MobileNetV2 classifiers as ONNX, {@link io.wattlab.trainer.model.Pretrainer}
 * pre-trains one on a synthetic source task so a demo fine-tunes a pre-trained model, and
 * {@link io.wattlab.trainer.model.ModelFacts} states any model's parameters, MACs and bytes.
 *
 * <pre>{@code
 * ModelProto model = BuiltinModels.create("resnet-cifar", 10, 3, 32, 32);
 * ModelFacts facts = ModelFacts.of(model);                       // 272,474 parameters, 40.8 MMACs
 * Pretrainer.Report r = Pretrainer.run(Pretrainer.Config.defaults("resnet-cifar"), Path.of("pre.onnx"));
 * ModelProto tuned = BuiltinModels.withNewHead(OnnxModels.read(r.checkpoint()), 4, 0);  // a 4-class task
 * }</pre>
 */
package io.wattlab.trainer.model;
