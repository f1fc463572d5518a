package io.wattlab.trainer.run;

import com.google.protobuf.Timestamp;
import io.wattlab.proto.v1.PhaseChange;
import io.wattlab.proto.v1.Run;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.proto.v1.RunState;
import io.wattlab.trainer.store.RunStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The scheduler with a real store in a temporary directory and the scripted executor. */
class RunSchedulerTest {

    @TempDir
    Path dir;

    private final List<AutoCloseable> opened = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = opened.size() - 1; i >= 0; i--) {
            opened.get(i).close();
        }
    }

    private RunStore store() {
        RunStore store = RunStore.open(dir);
        opened.add(store);
        return store;
    }

    private RunScheduler scheduler(RunStore store, RunExecutor executor, int perDevice) {
        RunScheduler scheduler = new RunScheduler(store, executor,
                new TrainerConfig(dir, perDevice, Duration.ofSeconds(5)));
        opened.add(scheduler);
        return scheduler;
    }

    private RunScheduler scheduler(int perDevice) {
        return scheduler(store(), new ScriptedExecutor(), perDevice);
    }

    static Instant instant(Timestamp t) {
        return Instant.ofEpochSecond(t.getSeconds(), t.getNanos());
    }

    @Test
    void runsOnOneDeviceRunOneAfterTheOtherWhileAnotherDeviceRunsBesideThem() throws Exception {
        RunScheduler scheduler = scheduler(1);
        Run first = scheduler.submit(ScriptedExecutor.spec(2, 30).build());
        Run second = scheduler.submit(ScriptedExecutor.spec(2, 30).build());
        Run gpu = scheduler.submit(ScriptedExecutor.spec(2, 30).setDevice("cuda:0").build());
        assertEquals(RunState.RUN_STATE_QUEUED, second.getState());

        Run a = scheduler.awaitFinished(first.getRunId());
        Run b = scheduler.awaitFinished(second.getRunId());
        Run g = scheduler.awaitFinished(gpu.getRunId());
        for (Run r : List.of(a, b, g)) {
            assertEquals(RunState.RUN_STATE_SUCCEEDED, r.getState(), r.getError());
        }
        assertFalse(instant(b.getStarted()).isBefore(instant(a.getFinished())),
                "the second cpu run started at " + b.getStarted() + " before the first finished at " + a.getFinished());
        assertTrue(instant(g.getStarted()).isBefore(instant(a.getFinished())),
                "the cuda:0 run waited for the cpu run");
    }

    @Test
    void aDeviceMayTakeMoreRunsWhenConfigured() throws Exception {
        RunScheduler scheduler = scheduler(2);
        Run a = scheduler.submit(ScriptedExecutor.spec(2, 30).build());
        Run b = scheduler.submit(ScriptedExecutor.spec(2, 30).build());
        a = scheduler.awaitFinished(a.getRunId());
        b = scheduler.awaitFinished(b.getRunId());
        assertTrue(instant(b.getStarted()).isBefore(instant(a.getFinished())), "two runs on cpu did not overlap");
    }

    @Test
    void aQueuedRunIsCancelledAtOnceAndARunningOneAtItsNextStep() throws Exception {
        RunScheduler scheduler = scheduler(1);
        Run running = scheduler.submit(ScriptedExecutor.spec(50, 40).build());
        Run queued = scheduler.submit(ScriptedExecutor.spec(1, 10).build());

        Run cancelledQueued = scheduler.cancel(queued.getRunId());
        assertEquals(RunState.RUN_STATE_CANCELLED, cancelledQueued.getState());
        assertEquals("cancelled by CancelRun before it started", cancelledQueued.getError());
        assertFalse(cancelledQueued.hasStarted());
        assertEquals(RunState.RUN_STATE_CANCELLED, openedStore().get(queued.getRunId()).orElseThrow().getState(),
                "the cancellation is on disk");

        awaitEpoch(scheduler, running.getRunId(), 2);
        Run asked = scheduler.cancel(running.getRunId());
        assertEquals(RunState.RUN_STATE_RUNNING, asked.getState(), "a running run stops at its next step, not at once");
        Run ended = scheduler.awaitFinished(running.getRunId());
        assertEquals(RunState.RUN_STATE_CANCELLED, ended.getState());
        assertTrue(ended.getError().startsWith("cancelled by CancelRun at phase train, epoch "), ended.getError());
        assertTrue(ended.getReport().getEpochsCount() >= 1, "the partial report keeps the epochs done");
        assertTrue(ended.getReport().getEnergy().getEnergyJoules() > 0);
        assertTrue(ended.getReport().getEpochsCount() < 50);

        assertThrows(RunFinishedException.class, () -> scheduler.cancel(running.getRunId()));
        assertThrows(UnknownRunException.class, () -> scheduler.cancel("no-such-run"));
    }

    /** The store the test opened, whose records are those on disk. */
    private RunStore openedStore() {
        return opened.stream().filter(o -> o instanceof RunStore).map(o -> (RunStore) o).findFirst().orElseThrow();
    }

    private static void awaitEpoch(RunScheduler scheduler, String runId, int epoch) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (scheduler.get(runId).orElseThrow().getEpoch() < epoch) {
            assertTrue(System.nanoTime() < deadline, "run " + runId + " did not reach epoch " + epoch);
            Thread.sleep(10);
        }
    }

    @Test
    void aFailedRunSaysWhereAndKeepsWhatItMeasured() throws Exception {
        RunScheduler scheduler = scheduler(1);
        Run run = scheduler.submit(ScriptedExecutor.scripted(ScriptedExecutor.spec(3, 10), "script.fail-epoch", "2").build());
        Run failed = scheduler.awaitFinished(run.getRunId());
        assertEquals(RunState.RUN_STATE_FAILED, failed.getState());
        assertEquals("train loss is NaN at phase train, epoch 2, step 2", failed.getError());
        assertEquals(1, failed.getReport().getEpochsCount());
        assertEquals("", failed.getPhase(), "a finished run is in no phase");
        assertEquals(2, failed.getEpoch());
    }

    @Test
    void anExecutorThatThrowsEndsItsRunAndFreesTheDevice() throws Exception {
        ScriptedExecutor scripted = new ScriptedExecutor();
        RunExecutor buggy = (id, spec, listener, cancel) -> {
            if (spec.getLabelsMap().containsKey("buggy")) {
                listener.phase(PhaseChange.newBuilder().setPhase("load").setStarted(true).build());
                throw new IllegalStateException("a bug");
            }
            return scripted.execute(id, spec, listener, cancel);
        };
        RunScheduler scheduler = scheduler(store(), buggy, 1);
        Run bad = scheduler.submit(ScriptedExecutor.spec(1, 5).putLabels("buggy", "yes").build());
        Run good = scheduler.submit(ScriptedExecutor.spec(1, 5).build());
        Run failed = scheduler.awaitFinished(bad.getRunId());
        assertEquals(RunState.RUN_STATE_FAILED, failed.getState());
        assertEquals("internal error: java.lang.IllegalStateException: a bug", failed.getError());
        assertEquals(RunState.RUN_STATE_SUCCEEDED, scheduler.awaitFinished(good.getRunId()).getState());
    }

    @Test
    void onStartARunningRecordIsFailedWithWhereItStoppedAndAQueuedOneRunsAgain() throws Exception {
        RunSpec spec = RunSpecs.validate(ScriptedExecutor.spec(1, 5).build());
        try (RunStore before = RunStore.open(dir)) {
            before.put(Run.newBuilder().setRunId("20250101-000000-aaaaaa").setSpec(spec)
                    .setState(RunState.RUN_STATE_RUNNING).setPhase("train").setEpoch(3)
                    .setCreated(Timestamp.newBuilder().setSeconds(1_735_689_600)).build());
            before.put(Run.newBuilder().setRunId("20250101-000001-bbbbbb").setSpec(spec)
                    .setState(RunState.RUN_STATE_QUEUED)
                    .setCreated(Timestamp.newBuilder().setSeconds(1_735_689_601)).build());
        }
        RunStore store = store();
        RunScheduler scheduler = scheduler(store, new ScriptedExecutor(), 1);

        Run interrupted = scheduler.get("20250101-000000-aaaaaa").orElseThrow();
        assertEquals(RunState.RUN_STATE_FAILED, interrupted.getState());
        assertEquals("the service stopped while this run was running (phase train, epoch 3)", interrupted.getError());
        assertTrue(interrupted.hasFinished());
        assertEquals(interrupted, store.get(interrupted.getRunId()).orElseThrow());

        Run requeued = scheduler.awaitFinished("20250101-000001-bbbbbb");
        assertEquals(RunState.RUN_STATE_SUCCEEDED, requeued.getState(), requeued.getError());
    }

    @Test
    void stoppingTheServiceFailsTheRunningRunAndKeepsTheQueuedOneQueued() throws Exception {
        RunStore store = store();
        RunScheduler scheduler = scheduler(store, new ScriptedExecutor(), 1);
        Run running = scheduler.submit(ScriptedExecutor.spec(50, 40).build());
        Run queued = scheduler.submit(ScriptedExecutor.spec(1, 5).build());
        awaitEpoch(scheduler, running.getRunId(), 1);
        scheduler.close();

        Run stopped = store.get(running.getRunId()).orElseThrow();
        assertEquals(RunState.RUN_STATE_FAILED, stopped.getState());
        assertTrue(stopped.getError().startsWith("the service stopped while this run was running (phase train, epoch "),
                stopped.getError());
        assertEquals(RunState.RUN_STATE_QUEUED, store.get(queued.getRunId()).orElseThrow().getState());
        assertThrows(IllegalStateException.class, () -> scheduler.submit(ScriptedExecutor.spec(1, 5).build()));
    }
}
