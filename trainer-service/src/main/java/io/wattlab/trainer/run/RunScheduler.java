package io.wattlab.trainer.run;

import com.google.protobuf.Timestamp;
import io.wattlab.proto.v1.EnergySummary;
import io.wattlab.proto.v1.EpochReport;
import io.wattlab.proto.v1.PhaseChange;
import io.wattlab.proto.v1.Run;
import io.wattlab.proto.v1.RunEvent;
import io.wattlab.proto.v1.RunReport;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.proto.v1.RunState;
import io.wattlab.trainer.store.RunStore;
import io.wattlab.trainer.store.StoreException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Decides when each run executes and keeps its record: runs queue in the order they came, at most
 * {@code maxRunsPerDevice} execute at once on one device (so that the energy windows of runs sharing
 * a device never overlap), each on a thread of its own; every state change, phase and epoch is
 * written to the {@link RunStore} and sent to the run's watchers.
 *
 * <p>On construction it takes over the store: a run recorded as RUNNING was cut short by a service
 * that stopped, and is marked FAILED saying so; a run recorded as QUEUED never started, and is
 * queued again (in its original order) if its spec is still valid.
 */
public final class RunScheduler implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(RunScheduler.class);
    private static final DateTimeFormatter ID_TIME = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC);
    private static final Comparator<Run> OLDEST_FIRST = Comparator
            .comparing((Run r) -> r.getCreated().getSeconds())
            .thenComparing(r -> r.getCreated().getNanos())
            .thenComparing(Run::getRunId);

    private final RunStore store;
    private final RunExecutor executor;
    private final int maxRunsPerDevice;
    private final Duration shutdownGrace;
    private final ExecutorService workers;
    private final SecureRandom random = new SecureRandom();

    private final Object lock = new Object();
    /** Ids of QUEUED runs, oldest first. */
    private final Deque<String> queue = new ArrayDeque<>();
    /** Runs not yet finished (QUEUED or RUNNING), by id. */
    private final Map<String, Active> active = new HashMap<>();
    private final Map<String, Integer> runningPerDevice = new HashMap<>();
    private boolean closed;

    /** A run that has not finished, with what the service holds for it beyond its record. */
    private static final class Active {
        final Run.Builder record;
        final CancelSignal cancel = new CancelSignal();
        final List<Consumer<RunEvent>> watchers = new ArrayList<>();
        final CountDownLatch done = new CountDownLatch(1);
        /** Raised by {@link #close()}: the run ends because the service stops, not because it was cancelled. */
        boolean stopping;
        boolean finished;

        Active(Run run) {
            this.record = run.toBuilder();
        }
    }

    public RunScheduler(RunStore store, RunExecutor executor, TrainerConfig config) {
        this.store = store;
        this.executor = executor;
        this.maxRunsPerDevice = config.maxRunsPerDevice();
        this.shutdownGrace = config.shutdownGrace();
        this.workers = Executors.newCachedThreadPool(task -> {
            Thread thread = new Thread(task, "run-worker");
            thread.setDaemon(true);
            return thread;
        });
        synchronized (lock) {
            recover();
            dispatch();
        }
    }

    private void recover() {
        List<Run> found = new ArrayList<>(store.all());
        found.sort(OLDEST_FIRST);
        for (Run run : found) {
            switch (run.getState()) {
                case RUN_STATE_RUNNING -> {
                    Instant lastHeard = store.lastWritten(run.getRunId()).orElseGet(Instant::now);
                    Run failed = run.toBuilder()
                            .setState(RunState.RUN_STATE_FAILED)
                            .setError(interruptedReason(run))
                            .setPhase("")
                            .setFinished(timestamp(lastHeard))
                            .build();
                    persist(failed);
                    LOG.warn("run {}: {}", run.getRunId(), failed.getError());
                }
                case RUN_STATE_QUEUED -> {
                    try {
                        RunSpecs.validate(run.getSpec());
                        active.put(run.getRunId(), new Active(run));
                        queue.add(run.getRunId());
                        LOG.info("run {}: queued again after a restart", run.getRunId());
                    } catch (InvalidSpecException e) {
                        persist(run.toBuilder().setState(RunState.RUN_STATE_FAILED)
                                .setError("its spec is no longer valid after a restart: " + e.getMessage())
                                .setFinished(timestamp(Instant.now())).build());
                    }
                }
                default -> {
                    // finished runs are history
                }
            }
        }
    }

    /**
     * Validates {@code spec}, records a QUEUED run with every default filled in, and starts it as
     * soon as its device is free.
     *
     * @return the run as queued
     * @throws InvalidSpecException naming the field that is wrong
     * @throws StoreException       when the run cannot be recorded (it is then not queued)
     */
    public Run submit(RunSpec spec) {
        RunSpec complete = RunSpecs.validate(spec);
        synchronized (lock) {
            if (closed) {
                throw new IllegalStateException("the service is stopping and takes no new runs");
            }
            Instant now = Instant.now();
            Run run = Run.newBuilder()
                    .setRunId(newId(now))
                    .setSpec(complete)
                    .setState(RunState.RUN_STATE_QUEUED)
                    .setCreated(timestamp(now))
                    .build();
            store.put(run);
            active.put(run.getRunId(), new Active(run));
            queue.add(run.getRunId());
            LOG.info("run {}: queued ({} on {})", run.getRunId(), describe(complete), complete.getDevice());
            dispatch();
            return run;
        }
    }

    private String newId(Instant now) {
        String id;
        do {
            byte[] bytes = new byte[3];
            random.nextBytes(bytes);
            id = ID_TIME.format(now) + "-" + HexFormat.of().formatHex(bytes);
        } while (active.containsKey(id) || store.get(id).isPresent());
        return id;
    }

    /** Starts every queued run whose device has a free slot, oldest first. Called with the lock held. */
    private void dispatch() {
        if (closed) {
            return;
        }
        var ids = queue.iterator();
        while (ids.hasNext()) {
            Active run = active.get(ids.next());
            String device = run.record.getSpec().getDevice();
            int running = runningPerDevice.getOrDefault(device, 0);
            if (running >= maxRunsPerDevice) {
                continue;
            }
            ids.remove();
            runningPerDevice.put(device, running + 1);
            run.record.setState(RunState.RUN_STATE_RUNNING).setStarted(timestamp(Instant.now()));
            persist(run.record.build());
            publish(run, event().setSnapshot(run.record.build()));
            LOG.info("run {}: running on {}", run.record.getRunId(), device);
            workers.execute(() -> execute(run));
        }
    }

    private void execute(Active run) {
        String runId;
        RunSpec spec;
        synchronized (lock) {
            runId = run.record.getRunId();
            spec = run.record.getSpec();
        }
        Thread.currentThread().setName("run-" + runId);
        try {
            RunReport report = executor.execute(runId, spec, new Listener(run), run.cancel);
            finish(run, RunState.RUN_STATE_SUCCEEDED, report, "");
        } catch (RunCancelledException e) {
            finish(run, RunState.RUN_STATE_CANCELLED, e.partialReport(), e.getMessage());
        } catch (RunFailedException e) {
            LOG.warn("run {} failed: {}", runId, e.getMessage(), e.getCause());
            finish(run, RunState.RUN_STATE_FAILED, e.partialReport(), e.getMessage());
        } catch (RuntimeException | Error e) {
            // An executor's bug must still end the run; otherwise its device stays taken for good.
            LOG.error("run {}: the executor failed unexpectedly", runId, e);
            finish(run, RunState.RUN_STATE_FAILED, null, "internal error: " + e);
        } finally {
            Thread.currentThread().setName("run-worker");
        }
    }

    private void finish(Active run, RunState state, RunReport report, String error) {
        synchronized (lock) {
            if (run.finished) {
                return;
            }
            run.finished = true;
            Run.Builder record = run.record;
            boolean wasRunning = record.getState() == RunState.RUN_STATE_RUNNING;
            if (run.stopping && state != RunState.RUN_STATE_SUCCEEDED) {
                state = RunState.RUN_STATE_FAILED;
                error = interruptedReason(record.build());
            } else if (state == RunState.RUN_STATE_CANCELLED && (error == null || error.isBlank())) {
                error = "cancelled by CancelRun" + (wasRunning ? " (" + where(record.build()) + ")" : " before it started");
            } else if (state == RunState.RUN_STATE_FAILED && (error == null || error.isBlank())) {
                error = "failed (" + where(record.build()) + ")";
            }
            record.setState(state).setError(error == null ? "" : error).setPhase("").setFinished(timestamp(Instant.now()));
            if (report != null) {
                record.setReport(report);
            }
            Run finished = record.build();
            persist(finished);
            publish(run, event().setFinished(finished));
            run.watchers.clear();
            active.remove(finished.getRunId());
            queue.remove(finished.getRunId());
            if (wasRunning) {
                runningPerDevice.merge(finished.getSpec().getDevice(), -1, Integer::sum);
            }
            LOG.info("run {}: {}{}", finished.getRunId(), stateName(state),
                    finished.getError().isEmpty() ? "" : " - " + finished.getError());
            run.done.countDown();
            dispatch();
        }
    }

    /** The run as it is now. */
    public Optional<Run> get(String runId) {
        synchronized (lock) {
            Active run = active.get(runId);
            return run != null ? Optional.of(run.record.build()) : store.get(runId);
        }
    }

    /** Every run the service knows, in no particular order. */
    public List<Run> runs() {
        synchronized (lock) {
            Map<String, Run> all = new HashMap<>();
            store.all().forEach(r -> all.put(r.getRunId(), r));
            active.values().forEach(a -> all.put(a.record.getRunId(), a.record.build()));
            return List.copyOf(all.values());
        }
    }

    /**
     * Cancels a run: a queued one at once; a running one is asked to stop at its next step boundary
     * and ends CANCELLED with what it had measured.
     *
     * @return the run as it is now: CANCELLED if it was queued, still RUNNING if it was running
     * @throws UnknownRunException  when no run has this id
     * @throws RunFinishedException when the run has ended already
     */
    public Run cancel(String runId) throws UnknownRunException, RunFinishedException {
        synchronized (lock) {
            Active run = active.get(runId);
            if (run == null) {
                Run done = store.get(runId).orElseThrow(() -> new UnknownRunException(runId));
                throw new RunFinishedException("run_id '" + runId + "': the run has ended already ("
                        + stateName(done.getState()) + ")");
            }
            if (run.record.getState() == RunState.RUN_STATE_QUEUED) {
                finish(run, RunState.RUN_STATE_CANCELLED, null, "");
            } else {
                run.cancel.raise();
                LOG.info("run {}: cancel requested ({})", runId, where(run.record.build()));
            }
            return get(runId).orElseThrow();
        }
    }

    /**
     * Follows a run: {@code watcher} is given a snapshot of the run at once, then every phase change,
     * epoch and energy update, a new snapshot when it starts running, and a {@code finished} event last.
     * A finished run gives its snapshot and its {@code finished} event at once. Events reach a
     * watcher one at a time, in order, on the threads that produce them; a watcher must not block.
     *
     * @return closing it stops the events (a client that went away)
     */
    public RunWatch watch(String runId, Consumer<RunEvent> watcher) throws UnknownRunException {
        synchronized (lock) {
            Active run = active.get(runId);
            if (run == null) {
                Run done = store.get(runId).orElseThrow(() -> new UnknownRunException(runId));
                watcher.accept(event().setSnapshot(done).build());
                watcher.accept(event().setFinished(done).build());
                return () -> {
                };
            }
            watcher.accept(event().setSnapshot(run.record.build()).build());
            run.watchers.add(watcher);
            return () -> {
                synchronized (lock) {
                    run.watchers.remove(watcher);
                }
            };
        }
    }

    /** Waits until the run has finished, and returns its record. */
    public Run awaitFinished(String runId) throws UnknownRunException, InterruptedException {
        Active run;
        synchronized (lock) {
            run = active.get(runId);
            if (run == null) {
                return store.get(runId).orElseThrow(() -> new UnknownRunException(runId));
            }
        }
        run.done.await();
        return get(runId).orElseThrow();
    }

    /**
     * Stops taking runs and asks running ones to stop at their next step boundary; each is recorded
     * FAILED, as it would be after a crash, since it did not finish. Queued runs stay queued in the
     * store, to start when the service next starts.
     */
    @Override
    public void close() {
        List<Active> running = new ArrayList<>();
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            for (Active run : active.values()) {
                if (run.record.getState() == RunState.RUN_STATE_RUNNING) {
                    run.stopping = true;
                    run.cancel.raise();
                    running.add(run);
                }
            }
        }
        long deadline = System.nanoTime() + shutdownGrace.toNanos();
        for (Active run : running) {
            try {
                if (!run.done.await(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                    LOG.warn("run {} did not stop within {} ms", run.record.getRunId(), shutdownGrace.toMillis());
                    finish(run, RunState.RUN_STATE_FAILED, null, "");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                finish(run, RunState.RUN_STATE_FAILED, null, "");
            }
        }
        workers.shutdownNow();
    }

    /** Why a run recorded as running did not finish: the service stopped under it. */
    static String interruptedReason(Run run) {
        return "the service stopped while this run was running (" + where(run) + ")";
    }

    private static String where(Run run) {
        if (run.getPhase().isEmpty()) {
            return run.getEpoch() > 0 ? "epoch " + run.getEpoch() : "before its first phase";
        }
        return "phase " + run.getPhase() + (run.getEpoch() > 0 ? ", epoch " + run.getEpoch() : "");
    }

    static String stateName(RunState state) {
        return state.name().substring("RUN_STATE_".length());
    }

    private static String describe(RunSpec spec) {
        String model = spec.getModel().hasOnnxPath() ? spec.getModel().getOnnxPath() : spec.getModel().getBuiltin();
        return model + " on " + spec.getDataset().getFormat() + ", " + spec.getEpochs() + " epoch(s)";
    }

    private void persist(Run run) {
        try {
            store.put(run);
        } catch (StoreException e) {
            // The run goes on in memory; its record on disk is one change behind until the next write works.
            LOG.error("run {}: {}", run.getRunId(), e.getMessage());
        }
    }

    private void publish(Active run, RunEvent.Builder event) {
        RunEvent built = event.build();
        for (Consumer<RunEvent> watcher : List.copyOf(run.watchers)) {
            try {
                watcher.accept(built);
            } catch (RuntimeException e) {
                LOG.debug("run {}: a watcher failed and is dropped: {}", run.record.getRunId(), e.toString());
                run.watchers.remove(watcher);
            }
        }
    }

    private static RunEvent.Builder event() {
        return RunEvent.newBuilder().setTime(timestamp(Instant.now()));
    }

    static Timestamp timestamp(Instant instant) {
        return Timestamp.newBuilder().setSeconds(instant.getEpochSecond()).setNanos(instant.getNano()).build();
    }

    /** What the executor of one run tells; it updates the record and the watchers until the run finishes. */
    private final class Listener implements RunListener {

        private final Active run;

        Listener(Active run) {
            this.run = run;
        }

        @Override
        public void phase(PhaseChange change) {
            synchronized (lock) {
                if (run.finished) {
                    return;
                }
                if (change.getStarted()) {
                    run.record.setPhase(change.getPhase());
                    if (change.getEpoch() > 0) {
                        run.record.setEpoch(change.getEpoch());
                    }
                    persist(run.record.build());
                }
                publish(run, event().setPhase(change));
            }
        }

        @Override
        public void epoch(EpochReport epoch) {
            synchronized (lock) {
                if (run.finished) {
                    return;
                }
                run.record.setEpoch(epoch.getEpoch());
                RunReport.Builder report = run.record.getReportBuilder();
                int at = -1;
                for (int i = 0; i < report.getEpochsCount(); i++) {
                    if (report.getEpochs(i).getEpoch() == epoch.getEpoch()) {
                        at = i;
                    }
                }
                if (at >= 0) {
                    report.setEpochs(at, epoch);
                } else {
                    report.addEpochs(epoch);
                }
                persist(run.record.build());
                publish(run, event().setEpoch(epoch));
            }
        }

        @Override
        public void energy(EnergySummary soFar) {
            synchronized (lock) {
                if (run.finished) {
                    return;
                }
                // Not written to disk each time: energy updates are frequent, and the next phase or epoch writes it.
                run.record.getReportBuilder().setEnergy(soFar);
                publish(run, event().setEnergySoFar(soFar));
            }
        }

        @Override
        public void partial(RunReport report) {
            synchronized (lock) {
                if (run.finished) {
                    return;
                }
                run.record.setReport(report);
                persist(run.record.build());
            }
        }
    }
}
