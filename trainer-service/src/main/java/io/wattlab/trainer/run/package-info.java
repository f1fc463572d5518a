/**
 * Runs as the service sees them: a {@link io.wattlab.trainer.run.RunSpecs validated spec} goes to the
 * {@link io.wattlab.trainer.run.RunScheduler}, which queues it, starts it when its device is free and
 * hands it to the {@link io.wattlab.trainer.run.RunExecutor} that does the work.
 *
 * <p>A run's states: QUEUED → RUNNING → SUCCEEDED, FAILED or CANCELLED; a queued run may also go
 * straight to CANCELLED. While it runs, the executor's {@link io.wattlab.trainer.run.RunListener}
 * calls update its record (phase, epoch, partial report) and reach its watchers as events.
 *
 * <p>When the service starts again after stopping or dying: a run it finds RUNNING is marked FAILED
 * with "the service stopped while this run was running (phase X, epoch N)", keeping its partial
 * report and with the time its record was last written as its end; a run it finds QUEUED never
 * started, so it is queued again in its original order (or FAILED, if its spec no longer validates,
 * for instance because its model file is gone). A service that stops cleanly asks its running runs
 * to stop at their next step and records them FAILED the same way, since they did not finish.
 *
 * <p>{@link io.wattlab.trainer.run.TrainerConfig} holds the settings: where records are kept and how
 * many runs a device may take at once (1 by default, so that energy windows never overlap on a device).
 */
package io.wattlab.trainer.run;
