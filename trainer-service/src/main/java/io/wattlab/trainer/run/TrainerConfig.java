package io.wattlab.trainer.run;

import io.wattlab.meter.config.Settings;

import java.nio.file.Path;
import java.time.Duration;

/**
 * How the service keeps and schedules runs, read once from configuration keys (each settable by an
 * environment variable: {@code wattlab.trainer.runs-dir} ← {@code WATTLAB_TRAINER_RUNS_DIR}).
 *
 * @param runsDir          where run records are kept (default {@code ~/.wattlab/runs})
 * @param maxRunsPerDevice runs that may execute at once on one device (default 1, so that the
 *                         energy windows of runs on a device never overlap)
 * @param shutdownGrace    how long a stopping service waits for running runs to reach a step boundary
 */
public record TrainerConfig(Path runsDir, int maxRunsPerDevice, Duration shutdownGrace) {

    public static final int DEFAULT_MAX_RUNS_PER_DEVICE = 1;
    public static final Duration DEFAULT_SHUTDOWN_GRACE = Duration.ofSeconds(10);

    public static Path defaultRunsDir() {
        return Path.of(System.getProperty("user.home"), ".wattlab", "runs");
    }

    /** @throws io.wattlab.meter.config.ConfigException naming the key, its variable and the value */
    public static TrainerConfig from(Settings s) {
        long perDevice = s.positiveLong("wattlab.trainer.max-runs-per-device", DEFAULT_MAX_RUNS_PER_DEVICE);
        if (perDevice > 64) {
            throw Settings.invalid("wattlab.trainer.max-runs-per-device", Long.toString(perDevice), "at most 64");
        }
        return new TrainerConfig(
                s.path("wattlab.trainer.runs-dir").orElseGet(TrainerConfig::defaultRunsDir),
                (int) perDevice,
                s.millis("wattlab.trainer.shutdown-grace-millis", DEFAULT_SHUTDOWN_GRACE));
    }
}
