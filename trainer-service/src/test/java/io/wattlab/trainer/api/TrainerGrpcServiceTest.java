package io.wattlab.trainer.api;

import com.google.protobuf.Timestamp;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.reflection.v1.ServiceResponse;
import io.grpc.stub.StreamObserver;
import io.wattlab.proto.v1.CancelRunRequest;
import io.wattlab.proto.v1.GetRunRequest;
import io.wattlab.proto.v1.ListRunsRequest;
import io.wattlab.proto.v1.ListRunsResponse;
import io.wattlab.proto.v1.ModelSpec;
import io.wattlab.proto.v1.Run;
import io.wattlab.proto.v1.RunEvent;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.proto.v1.RunState;
import io.wattlab.proto.v1.StartRunRequest;
import io.wattlab.proto.v1.WatchRunRequest;
import io.wattlab.trainer.run.ScriptedExecutor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Trainer API over real gRPC on loopback, with run records in a temporary directory and the scripted executor. */
class TrainerGrpcServiceTest {

    @TempDir
    static Path runsDir;

    private static RunningTrainer running;

    @BeforeAll
    static void start() {
        running = new RunningTrainer(runsDir);
    }

    @AfterAll
    static void stop() throws Exception {
        running.close();
    }

    static Run start(RunSpec.Builder spec) {
        return running.trainer.startRun(StartRunRequest.newBuilder().setSpec(spec).build());
    }

    static List<RunEvent> watchToEnd(String runId) {
        List<RunEvent> events = new ArrayList<>();
        Iterator<RunEvent> stream = running.trainer.withDeadlineAfter(60, TimeUnit.SECONDS)
                .watchRun(WatchRunRequest.newBuilder().setRunId(runId).build());
        stream.forEachRemaining(events::add);
        return events;
    }

    static Instant instant(Timestamp t) {
        return Instant.ofEpochSecond(t.getSeconds(), t.getNanos());
    }

    private static StatusRuntimeException refused(UnaryOperator<RunSpec.Builder> change) {
        return assertThrows(StatusRuntimeException.class, () -> start(change.apply(ScriptedExecutor.spec(1, 5))));
    }

    private static void assertInvalid(String description, UnaryOperator<RunSpec.Builder> change) {
        StatusRuntimeException e = refused(change);
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), description);
        assertEquals(description, e.getStatus().getDescription());
    }

    @Test
    void startRunRefusesABadSpecWithInvalidArgumentNamingTheField() {
        Path missing = runsDir.resolve("models/resnet18.onnx");
        assertInvalid("spec.model.onnx_path: no such file: " + missing,
                b -> b.setModel(ModelSpec.newBuilder().setOnnxPath(missing.toString())));
        assertInvalid("spec.optimizer.name: unknown optimizer 'adam' (known: sgd, adamw)",
                b -> b.setOptimizer(b.getOptimizer().toBuilder().setName("adam")));
        assertInvalid("spec.learning_rate: -0.5 is negative", b -> b.setLearningRate(-0.5));
        assertInvalid("spec.device: 'cuda' is not a device (cpu or cuda:N, such as cuda:0)", b -> b.setDevice("cuda"));
        assertInvalid("spec.dataset.format: unknown dataset format 'tfrecord' (known: cifar10, cifar100, mnist,"
                + " fashion-mnist, medmnist, imagefolder, synthetic)", b -> {
                    b.getDatasetBuilder().setFormat("tfrecord");
                    return b;
                });
        StatusRuntimeException noSpec = assertThrows(StatusRuntimeException.class,
                () -> running.trainer.startRun(StartRunRequest.getDefaultInstance()));
        assertEquals(Status.Code.INVALID_ARGUMENT, noSpec.getStatus().getCode());
        assertEquals("spec: missing", noSpec.getStatus().getDescription());
    }

    @Test
    void watchRunStreamsASnapshotThenPhasesEpochsAndEnergyThenFinished() {
        Run queued = start(ScriptedExecutor.spec(2, 20));
        assertEquals(RunState.RUN_STATE_QUEUED, queued.getState());
        assertEquals(32, queued.getSpec().getBatchSize(), "the run is recorded with its defaults");

        List<RunEvent> events = watchToEnd(queued.getRunId());
        assertTrue(events.get(0).hasSnapshot(), events.get(0).toString());
        RunEvent last = events.get(events.size() - 1);
        assertTrue(last.hasFinished());
        assertEquals(RunState.RUN_STATE_SUCCEEDED, last.getFinished().getState(), last.getFinished().getError());
        assertEquals(1, events.stream().filter(RunEvent::hasFinished).count());

        // The run may have begun before the watch did: then the snapshot holds the phase it is in.
        Run snapshot = events.get(0).getSnapshot();
        List<String> phases = new ArrayList<>();
        if (!snapshot.getPhase().isEmpty()) {
            phases.add(snapshot.getPhase() + (snapshot.getEpoch() > 0 ? " " + snapshot.getEpoch() : ""));
        }
        events.stream().filter(e -> e.hasPhase() && e.getPhase().getStarted())
                .map(e -> e.getPhase().getPhase() + (e.getPhase().getEpoch() > 0 ? " " + e.getPhase().getEpoch() : ""))
                .forEach(phases::add);
        // On a loaded machine the run can be past load when the watch begins; from the snapshot's
        // phase on, every phase must be streamed, and with no phase yet, all of them.
        List<String> all = List.of("load", "compress", "train 1", "train 2", "evaluate");
        int from = snapshot.getPhase().isEmpty() ? 0 : all.indexOf(phases.get(0));
        assertTrue(from >= 0, "snapshot phase " + phases);
        assertEquals(all.subList(from, all.size()), phases);
        assertEquals(List.of(1, 2), events.stream().filter(RunEvent::hasEpoch).map(e -> e.getEpoch().getEpoch()).toList());
        assertTrue(events.stream().anyMatch(RunEvent::hasEnergySoFar));
        for (int i = 1; i < events.size(); i++) {
            assertFalse(instant(events.get(i).getTime()).isBefore(instant(events.get(i - 1).getTime())), "events in time order");
        }

        Run done = running.trainer.getRun(GetRunRequest.newBuilder().setRunId(queued.getRunId()).build());
        assertEquals(last.getFinished(), done);
        assertEquals(2, done.getReport().getEpochsCount());
        assertEquals(5, done.getReport().getPhasesCount());
        assertTrue(done.getReport().getEnergy().getEnergyJoules() > 0);

        List<RunEvent> again = watchToEnd(queued.getRunId());
        assertEquals(2, again.size(), "a finished run gives its snapshot and finished at once: " + again);
        assertEquals(done, again.get(0).getSnapshot());
        assertEquals(done, again.get(1).getFinished());
    }

    @Test
    void twoRunsOnTheCpuRunOneAfterTheOther() {
        Run first = start(ScriptedExecutor.spec(2, 25));
        Run second = start(ScriptedExecutor.spec(2, 25));
        Run a = watchToEnd(first.getRunId()).stream().filter(RunEvent::hasFinished).findFirst().orElseThrow().getFinished();
        Run b = watchToEnd(second.getRunId()).stream().filter(RunEvent::hasFinished).findFirst().orElseThrow().getFinished();
        assertEquals(RunState.RUN_STATE_SUCCEEDED, a.getState());
        assertEquals(RunState.RUN_STATE_SUCCEEDED, b.getState());
        assertFalse(instant(b.getStarted()).isBefore(instant(a.getFinished())),
                "second started " + b.getStarted() + " before first finished " + a.getFinished());
        assertFalse(instant(a.getStarted()).isBefore(instant(a.getCreated())));
    }

    @Test
    void cancelRunMidRunEndsItCancelledWithItsPartialReport() throws Exception {
        Run run = start(ScriptedExecutor.spec(100, 30));
        CompletableFuture<Run> finished = new CompletableFuture<>();
        CompletableFuture<Void> firstEpoch = new CompletableFuture<>();
        running.async.watchRun(WatchRunRequest.newBuilder().setRunId(run.getRunId()).build(), new StreamObserver<>() {
            @Override
            public void onNext(RunEvent event) {
                if (event.hasEpoch()) {
                    firstEpoch.complete(null);
                }
                if (event.hasFinished()) {
                    finished.complete(event.getFinished());
                }
            }

            @Override
            public void onError(Throwable t) {
                finished.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                finished.completeExceptionally(new AssertionError("the stream ended before a finished event"));
            }
        });
        firstEpoch.get(60, TimeUnit.SECONDS);
        Run asked = running.trainer.cancelRun(CancelRunRequest.newBuilder().setRunId(run.getRunId()).build());
        assertEquals(RunState.RUN_STATE_RUNNING, asked.getState());

        Run cancelled = finished.get(60, TimeUnit.SECONDS);
        assertEquals(RunState.RUN_STATE_CANCELLED, cancelled.getState());
        assertTrue(cancelled.getError().startsWith("cancelled by CancelRun at phase train, epoch "), cancelled.getError());
        assertTrue(cancelled.getReport().getEpochsCount() >= 1 && cancelled.getReport().getEpochsCount() < 100);
        assertTrue(cancelled.getReport().getEnergy().getEnergyJoules() > 0, "the energy measured is kept");

        StatusRuntimeException again = assertThrows(StatusRuntimeException.class,
                () -> running.trainer.cancelRun(CancelRunRequest.newBuilder().setRunId(run.getRunId()).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, again.getStatus().getCode());
        assertEquals("run_id '" + run.getRunId() + "': the run has ended already (CANCELLED)", again.getStatus().getDescription());
    }

    @Test
    void anUnknownRunIsNotFound() {
        for (Runnable call : List.<Runnable>of(
                () -> running.trainer.getRun(GetRunRequest.newBuilder().setRunId("nope").build()),
                () -> running.trainer.cancelRun(CancelRunRequest.newBuilder().setRunId("nope").build()),
                () -> running.trainer.watchRun(WatchRunRequest.newBuilder().setRunId("nope").build()).hasNext())) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run);
            assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
            assertEquals("run_id 'nope': no such run", e.getStatus().getDescription());
        }
    }

    @Test
    void listRunsFiltersByStateAndLabelsNewestFirstInPages() {
        String batch = UUID.randomUUID().toString();
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            RunSpec.Builder spec = ScriptedExecutor.spec(1, 2).putLabels("batch", batch).putLabels("team", i < 3 ? "a" : "b");
            if (i == 1) {
                ScriptedExecutor.scripted(spec, "script.fail-epoch", "1");
            }
            ids.add(start(spec).getRunId());
        }
        ids.forEach(TrainerGrpcServiceTest::watchToEnd);

        List<Run> all = pages(ListRunsRequest.newBuilder().putLabels("batch", batch).setPageSize(2), 3);
        assertEquals(List.of(ids.get(4), ids.get(3), ids.get(2), ids.get(1), ids.get(0)),
                all.stream().map(Run::getRunId).toList(), "newest first, each once");

        ListRunsResponse teamA = running.trainer.listRuns(ListRunsRequest.newBuilder()
                .putLabels("batch", batch).putLabels("team", "a").build());
        assertEquals(List.of(ids.get(2), ids.get(1), ids.get(0)), teamA.getRunsList().stream().map(Run::getRunId).toList());
        assertEquals("", teamA.getNextPageToken());

        ListRunsResponse failed = running.trainer.listRuns(ListRunsRequest.newBuilder()
                .putLabels("batch", batch).addStates(RunState.RUN_STATE_FAILED).build());
        assertEquals(List.of(ids.get(1)), failed.getRunsList().stream().map(Run::getRunId).toList());
        ListRunsResponse finished = running.trainer.listRuns(ListRunsRequest.newBuilder().putLabels("batch", batch)
                .addStates(RunState.RUN_STATE_FAILED).addStates(RunState.RUN_STATE_SUCCEEDED).build());
        assertEquals(5, finished.getRunsCount());

        StatusRuntimeException badToken = assertThrows(StatusRuntimeException.class,
                () -> running.trainer.listRuns(ListRunsRequest.newBuilder().setPageToken("page-2").build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, badToken.getStatus().getCode());
        assertTrue(badToken.getStatus().getDescription().startsWith("page_token: 'page-2' is not a token from ListRuns"));
        StatusRuntimeException negative = assertThrows(StatusRuntimeException.class,
                () -> running.trainer.listRuns(ListRunsRequest.newBuilder().setPageSize(-1).build()));
        assertEquals("page_size: -1 is negative", negative.getStatus().getDescription());
    }

    /** Follows next_page_token to the end; checks the number of pages. */
    private static List<Run> pages(ListRunsRequest.Builder request, int expectedPages) {
        List<Run> runs = new ArrayList<>();
        Set<String> tokens = new HashSet<>();
        int count = 0;
        String token = "";
        do {
            ListRunsResponse page = running.trainer.listRuns(request.setPageToken(token).build());
            assertTrue(page.getRunsCount() <= request.getPageSize());
            runs.addAll(page.getRunsList());
            token = page.getNextPageToken();
            assertTrue(token.isEmpty() || tokens.add(token), "a token repeats");
            count++;
        } while (!token.isEmpty());
        assertEquals(expectedPages, count);
        return runs;
    }

    @Test
    void healthIsServingAndReflectionListsTheServices() throws Exception {
        HealthCheckResponse health = HealthGrpc.newBlockingStub(running.channel)
                .check(HealthCheckRequest.newBuilder().build());
        assertEquals(HealthCheckResponse.ServingStatus.SERVING, health.getStatus());

        CompletableFuture<ServerReflectionResponse> answer = new CompletableFuture<>();
        StreamObserver<ServerReflectionRequest> requests = ServerReflectionGrpc.newStub(running.channel)
                .serverReflectionInfo(new StreamObserver<>() {
                    @Override
                    public void onNext(ServerReflectionResponse response) {
                        answer.complete(response);
                    }

                    @Override
                    public void onError(Throwable t) {
                        answer.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {
                    }
                });
        requests.onNext(ServerReflectionRequest.newBuilder().setListServices("*").build());
        requests.onCompleted();
        Set<String> services = new HashSet<>(answer.get(30, TimeUnit.SECONDS).getListServicesResponse()
                .getServiceList().stream().map(ServiceResponse::getName).toList());
        assertTrue(services.containsAll(Set.of("wattlab.v1.Trainer", "grpc.health.v1.Health")), services.toString());
    }

    @Test
    void aRunCutShortByAStoppedServiceIsFailedWhenTheServiceStartsAgain(@TempDir Path dir) throws Exception {
        String runId;
        String queuedId;
        try (RunningTrainer first = new RunningTrainer(dir)) {
            runId = first.trainer.startRun(StartRunRequest.newBuilder().setSpec(ScriptedExecutor.spec(100, 30)).build()).getRunId();
            queuedId = first.trainer.startRun(StartRunRequest.newBuilder().setSpec(ScriptedExecutor.spec(1, 2)).build()).getRunId();
            Iterator<RunEvent> events = first.trainer.watchRun(WatchRunRequest.newBuilder().setRunId(runId).build());
            while (!events.next().hasEpoch()) {
                // until the first epoch is done
            }
        }
        try (RunningTrainer second = new RunningTrainer(dir)) {
            Run stopped = second.trainer.getRun(GetRunRequest.newBuilder().setRunId(runId).build());
            assertEquals(RunState.RUN_STATE_FAILED, stopped.getState());
            assertTrue(stopped.getError().matches("the service stopped while this run was running \\(phase train, epoch \\d+\\)"),
                    stopped.getError());
            assertTrue(stopped.getReport().getEpochsCount() >= 1, "the epochs done before the stop are kept");

            Iterator<RunEvent> queued = second.trainer.withDeadlineAfter(60, TimeUnit.SECONDS)
                    .watchRun(WatchRunRequest.newBuilder().setRunId(queuedId).build());
            RunEvent last = null;
            while (queued.hasNext()) {
                last = queued.next();
            }
            assertEquals(RunState.RUN_STATE_SUCCEEDED, last.getFinished().getState(), "the queued run ran after the restart");
        }
    }

    @Test
    void aRecordLeftRunningByAKilledServiceIsFailedOnStart(@TempDir Path dir) throws Exception {
        RunSpec spec = io.wattlab.trainer.run.RunSpecs.validate(ScriptedExecutor.spec(3, 5).build());
        try (io.wattlab.trainer.store.RunStore store = io.wattlab.trainer.store.RunStore.open(dir)) {
            store.put(Run.newBuilder().setRunId("20250102-030405-abcdef").setSpec(spec)
                    .setState(RunState.RUN_STATE_RUNNING).setPhase("evaluate")
                    .setCreated(Timestamp.newBuilder().setSeconds(1_735_787_045)).build());
        }
        try (RunningTrainer service = new RunningTrainer(dir, Map.of())) {
            Run run = service.trainer.getRun(GetRunRequest.newBuilder().setRunId("20250102-030405-abcdef").build());
            assertEquals(RunState.RUN_STATE_FAILED, run.getState());
            assertEquals("the service stopped while this run was running (phase evaluate)", run.getError());
        }
    }
}
