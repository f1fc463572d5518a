package io.wattlab.meter.api;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.wattlab.meter.daemon.MeterDaemon;
import io.wattlab.meter.ledger.OutOfRetentionException;
import io.wattlab.meter.sink.SampleSink;
import io.wattlab.proto.v1.BeginWindowRequest;
import io.wattlab.proto.v1.BeginWindowResponse;
import io.wattlab.proto.v1.EndWindowRequest;
import io.wattlab.proto.v1.GetEnergyRequest;
import io.wattlab.proto.v1.GetStatusRequest;
import io.wattlab.proto.v1.MeterGrpc;
import io.wattlab.proto.v1.MeterStatus;
import io.wattlab.proto.v1.Sample;
import io.wattlab.proto.v1.StreamSamplesRequest;
import io.wattlab.proto.v1.WindowEnergy;
import io.micronaut.context.annotation.Requires;
import jakarta.inject.Singleton;

import java.util.List;
import java.util.Map;
import java.util.Set;

/** The {@code wattlab.v1.Meter} service: the daemon's state and window energy over gRPC. */
@Singleton
@Requires(beans = MeterDaemon.class)
public class MeterGrpcService extends MeterGrpc.MeterImplBase {

    private final MeterDaemon daemon;

    public MeterGrpcService(MeterDaemon daemon) {
        this.daemon = daemon;
    }

    @Override
    public void getStatus(GetStatusRequest request, StreamObserver<MeterStatus> response) {
        response.onNext(Protos.status(daemon));
        response.onCompleted();
    }

    @Override
    public void beginWindow(BeginWindowRequest request, StreamObserver<BeginWindowResponse> response) {
        MeterDaemon.OpenedWindow window = daemon.beginWindow(request.getLabelsMap());
        response.onNext(BeginWindowResponse.newBuilder()
                .setWindowId(window.id())
                .setStart(Protos.timestamp(window.startNanos()))
                .build());
        response.onCompleted();
    }

    @Override
    public void endWindow(EndWindowRequest request, StreamObserver<WindowEnergy> response) {
        if (request.getWindowId().isEmpty()) {
            response.onError(Status.INVALID_ARGUMENT.withDescription("window_id is empty").asRuntimeException());
            return;
        }
        daemon.endWindow(request.getWindowId()).ifPresentOrElse(
                closed -> {
                    response.onNext(Protos.windowEnergy(closed.id(), closed.labels(), closed.energy()));
                    response.onCompleted();
                },
                () -> response.onError(Status.NOT_FOUND
                        .withDescription("window_id '" + request.getWindowId() + "': no open window has this id"
                                + " (never begun on this daemon, already ended, or begun before a restart)")
                        .asRuntimeException()));
    }

    @Override
    public void getEnergy(GetEnergyRequest request, StreamObserver<WindowEnergy> response) {
        if (!request.hasStart() || !request.hasEnd()) {
            response.onError(Status.INVALID_ARGUMENT
                    .withDescription((request.hasStart() ? "end" : "start") + " is missing").asRuntimeException());
            return;
        }
        long start = Protos.nanos(request.getStart());
        long end = Protos.nanos(request.getEnd());
        if (end < start) {
            response.onError(Status.INVALID_ARGUMENT
                    .withDescription("end " + request.getEnd() + " is before start " + request.getStart())
                    .asRuntimeException());
            return;
        }
        try {
            response.onNext(Protos.windowEnergy("", Map.of(), daemon.energyBetween(start, end)));
            response.onCompleted();
        } catch (OutOfRetentionException e) {
            response.onError(Status.OUT_OF_RANGE.withDescription(e.getMessage()
                    + " (retention " + daemon.retention() + ")").asRuntimeException());
        }
    }

    @Override
    public void streamSamples(StreamSamplesRequest request, StreamObserver<Sample> response) {
        ServerCallStreamObserver<Sample> call = (ServerCallStreamObserver<Sample>) response;
        Set<String> only = Set.copyOf(request.getSensorsList());
        SampleSink sink = new SampleSink() {
            @Override
            public void accept(List<io.wattlab.meter.sample.Sample> samples) {
                synchronized (call) {
                    if (call.isCancelled()) {
                        return;
                    }
                    for (io.wattlab.meter.sample.Sample s : samples) {
                        if (!only.isEmpty() && !only.contains(s.channel().sensor())) {
                            continue;
                        }
                        // A client that cannot keep up loses samples rather than growing the daemon's heap.
                        if (call.isReady()) {
                            call.onNext(Protos.sample(s));
                        }
                    }
                }
            }
        };
        call.setOnCancelHandler(() -> daemon.removeSink(sink));
        daemon.addSink(sink);
    }
}
