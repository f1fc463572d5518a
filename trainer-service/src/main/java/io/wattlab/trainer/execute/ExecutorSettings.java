package io.wattlab.trainer.execute;

import io.micronaut.core.value.PropertyResolver;
import io.wattlab.meter.config.Settings;
import io.wattlab.trainer.train.ExecutionConfig;

import java.nio.file.Path;
import java.util.Optional;

/**
 * How the executor runs, read from configuration keys (each settable by environment variable:
 * {@code wattlab.trainer.runs-dir} ← {@code WATTLAB_TRAINER_RUNS_DIR}).
 *
 * @param runsDirectory    each run's trained model goes to {@code <runsDirectory>/<run_id>/model.onnx}
 *                         ({@code wattlab.trainer.runs-dir}, default {@code ~/.wattlab/runs})
 * @param intraOpThreads   ONNX Runtime threads, 0 for its default ({@code wattlab.trainer.intra-op-threads})
 * @param intraOpSpinning  whether those threads spin while waiting for work ({@code wattlab.trainer.intra-op-spinning}:
 *                         true, false, or auto, the default: off where the threads take every processor,
 *                         see {@link ExecutionConfig#spinningByDefault})
 * @param epochEvalImages  test images evaluated after each epoch, to keep that cheap; the final
 *                         evaluation uses the whole test split ({@code wattlab.trainer.epoch-eval-images}, 1000)
 * @param meterAddress     a meter-daemon's gRPC {@code host:port} ({@code wattlab.meter.address}); empty:
 *                         the sensors run in-process
 * @param influx           where run events go ({@code wattlab.influx.url}, {@code .database},
 *                         {@code .username}, {@code .password}, as the meter); empty: nowhere
 */
public record ExecutorSettings(Path runsDirectory, int intraOpThreads, boolean intraOpSpinning, int epochEvalImages,
                               Optional<String> meterAddress, Optional<InfluxRunEvents.Target> influx) {

    public static final int DEFAULT_EPOCH_EVAL_IMAGES = 1000;

    public static Path defaultRunsDirectory() {
        return Path.of(System.getProperty("user.home"), ".wattlab", "runs");
    }

    /** Defaults: runs under ~/.wattlab/runs, in-process meter, no InfluxDB. */
    public static ExecutorSettings defaults() {
        return new ExecutorSettings(defaultRunsDirectory(), 0, ExecutionConfig.spinningByDefault(0),
                DEFAULT_EPOCH_EVAL_IMAGES, Optional.empty(), Optional.empty());
    }

    public static ExecutorSettings from(PropertyResolver configuration) {
        Settings s = new Settings(configuration);
        Optional<InfluxRunEvents.Target> influx = s.string("wattlab.influx.url").map(url -> new InfluxRunEvents.Target(
                url, s.string("wattlab.influx.database", "wattlab"),
                s.string("wattlab.influx.username").orElse(null), s.string("wattlab.influx.password").orElse(null)));
        long threads = s.string("wattlab.trainer.intra-op-threads").isPresent()
                ? s.positiveLong("wattlab.trainer.intra-op-threads", 1) : 0;
        return new ExecutorSettings(s.path("wattlab.trainer.runs-dir").orElse(defaultRunsDirectory()),
                (int) Math.min(threads, 1024),
                s.string("wattlab.trainer.intra-op-spinning", "auto").equalsIgnoreCase("auto")
                        ? ExecutionConfig.spinningByDefault((int) Math.min(threads, 1024))
                        : s.bool("wattlab.trainer.intra-op-spinning", true),
                (int) Math.min(s.positiveLong("wattlab.trainer.epoch-eval-images", DEFAULT_EPOCH_EVAL_IMAGES),
                        Integer.MAX_VALUE),
                s.string("wattlab.meter.address"), influx);
    }

    public ExecutorSettings withInflux(InfluxRunEvents.Target target) {
        return new ExecutorSettings(runsDirectory, intraOpThreads, intraOpSpinning, epochEvalImages, meterAddress,
                Optional.of(target));
    }

    public ExecutorSettings withRunsDirectory(Path directory) {
        return new ExecutorSettings(directory, intraOpThreads, intraOpSpinning, epochEvalImages, meterAddress, influx);
    }
}
