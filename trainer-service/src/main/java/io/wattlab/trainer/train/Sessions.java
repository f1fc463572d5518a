package io.wattlab.trainer.train;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import ai.onnx.proto.OnnxMl.ModelProto;

/** Opens OrtSessions on the configured device, failing clearly when CUDA is asked for but absent. */
public final class Sessions {
  private Sessions() {}

  public static OrtSession open(ModelProto model, ExecutionConfig config) {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
      if (config.intraOpThreads() > 0) {
        options.setIntraOpNumThreads(config.intraOpThreads());
      }
      if (!config.intraOpSpinning()) {
        // On a small VM, a worker spinning for work was seen to halve training throughput for
        // seconds at a time (docs/BENCHMARKS.md, metering overhead on training).
        options.addConfigEntry("session.intra_op.allow_spinning", "0");
      }
      if (config.isCuda()) {
        if (!OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA)) {
          throw new TrainingException("device " + config.device() + " was requested but this ONNX Runtime "
              + "has no CUDA provider: build with -Pcuda (onnxruntime_gpu) on a machine with CUDA");
        }
        try {
          options.addCUDA(config.cudaDeviceId());
        } catch (OrtException e) {
          throw new TrainingException("device " + config.device() + " is not usable: " + e.getMessage());
        }
      }
      return env.createSession(model.toByteArray(), options);
    } catch (OrtException e) {
      throw new TrainingException("ONNX Runtime rejected graph " + model.getGraph().getName() + ": "
          + e.getMessage());
    }
  }
}
