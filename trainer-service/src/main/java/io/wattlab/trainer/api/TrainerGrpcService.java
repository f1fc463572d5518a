package io.wattlab.trainer.api;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.wattlab.proto.v1.CancelRunRequest;
import io.wattlab.proto.v1.GetRunRequest;
import io.wattlab.proto.v1.ListRunsRequest;
import io.wattlab.proto.v1.ListRunsResponse;
import io.wattlab.proto.v1.Run;
import io.wattlab.proto.v1.RunEvent;
import io.wattlab.proto.v1.StartRunRequest;
import io.wattlab.proto.v1.TrainerGrpc;
import io.wattlab.proto.v1.WatchRunRequest;
import io.wattlab.trainer.run.InvalidSpecException;
import io.wattlab.trainer.run.RunFinishedException;
import io.wattlab.trainer.run.RunScheduler;
import io.wattlab.trainer.run.RunWatch;
import io.wattlab.trainer.run.UnknownRunException;
import io.wattlab.trainer.store.StoreException;
import jakarta.inject.Singleton;

import java.util.concurrent.atomic.AtomicReference;

/**
 * The {@code wattlab.v1.Trainer} service: runs queued, followed and cancelled over gRPC. The one
 * place where the scheduler's errors become status codes.
 */
@Singleton
public class TrainerGrpcService extends TrainerGrpc.TrainerImplBase {

    private final RunScheduler scheduler;

    public TrainerGrpcService(RunScheduler scheduler) {
        this.scheduler = scheduler;
    }

    @Override
    public void startRun(StartRunRequest request, StreamObserver<Run> response) {
        if (!request.hasSpec()) {
            response.onError(invalid("spec: missing"));
            return;
        }
        try {
            response.onNext(scheduler.submit(request.getSpec()));
            response.onCompleted();
        } catch (InvalidSpecException e) {
            response.onError(invalid(e.getMessage()));
        } catch (StoreException e) {
            response.onError(Status.UNAVAILABLE.withDescription(e.getMessage()).asRuntimeException());
        } catch (IllegalStateException e) {
            response.onError(Status.UNAVAILABLE.withDescription(e.getMessage()).asRuntimeException());
        }
    }

    @Override
    public void getRun(GetRunRequest request, StreamObserver<Run> response) {
        if (request.getRunId().isEmpty()) {
            response.onError(invalid("run_id: empty"));
            return;
        }
        scheduler.get(request.getRunId()).ifPresentOrElse(run -> {
            response.onNext(run);
            response.onCompleted();
        }, () -> response.onError(notFound(new UnknownRunException(request.getRunId()))));
    }

    @Override
    public void listRuns(ListRunsRequest request, StreamObserver<ListRunsResponse> response) {
        ListRunsResponse page;
        try {
            page = RunPages.page(scheduler.runs(), request);
        } catch (IllegalArgumentException e) {
            response.onError(invalid(e.getMessage()));
            return;
        }
        response.onNext(page);
        response.onCompleted();
    }

    @Override
    public void watchRun(WatchRunRequest request, StreamObserver<RunEvent> response) {
        if (request.getRunId().isEmpty()) {
            response.onError(invalid("run_id: empty"));
            return;
        }
        ServerCallStreamObserver<RunEvent> call = (ServerCallStreamObserver<RunEvent>) response;
        AtomicReference<RunWatch> watch = new AtomicReference<>();
        call.setOnCancelHandler(() -> {
            RunWatch w = watch.get();
            if (w != null) {
                w.close();
            }
        });
        try {
            // The scheduler calls this one event at a time, so the stream's observer is never used concurrently.
            watch.set(scheduler.watch(request.getRunId(), event -> {
                if (call.isCancelled()) {
                    return;
                }
                call.onNext(event);
                if (event.hasFinished()) {
                    call.onCompleted();
                }
            }));
        } catch (UnknownRunException e) {
            call.onError(notFound(e));
        }
    }

    @Override
    public void cancelRun(CancelRunRequest request, StreamObserver<Run> response) {
        if (request.getRunId().isEmpty()) {
            response.onError(invalid("run_id: empty"));
            return;
        }
        try {
            response.onNext(scheduler.cancel(request.getRunId()));
            response.onCompleted();
        } catch (UnknownRunException e) {
            response.onError(notFound(e));
        } catch (RunFinishedException e) {
            response.onError(Status.FAILED_PRECONDITION.withDescription(e.getMessage()).asRuntimeException());
        }
    }

    private static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }

    private static StatusRuntimeException notFound(UnknownRunException e) {
        return Status.NOT_FOUND.withDescription(e.getMessage()).asRuntimeException();
    }
}
