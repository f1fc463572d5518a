package io.wattlab.trainer.metering;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import io.wattlab.proto.v1.BeginWindowRequest;
import io.wattlab.proto.v1.BeginWindowResponse;
import io.wattlab.proto.v1.EndWindowRequest;
import io.wattlab.proto.v1.MeterGrpc;
import io.wattlab.proto.v1.WindowEnergy;

import java.util.Map;
import java.util.concurrent.TimeUnit;

/** A meter-daemon reached over gRPC ({@code WATTLAB_METER_ADDRESS=host:port}): windows are its BeginWindow/EndWindow. */
public final class RemoteMeter implements EnergyMeter {

    private static final long CALL_TIMEOUT_SECONDS = 30;

    private final String address;
    private final ManagedChannel channel;
    private final MeterGrpc.MeterBlockingStub meter;

    /**
     * @param address {@code host:port} of a meter-daemon's gRPC server (plaintext)
     * @throws IllegalArgumentException naming the address when it is not {@code host:port}
     */
    public RemoteMeter(String address) {
        this.address = address;
        int colon = address.lastIndexOf(':');
        int port;
        try {
            port = colon > 0 ? Integer.parseInt(address.substring(colon + 1)) : -1;
        } catch (NumberFormatException e) {
            port = -1;
        }
        if (port <= 0 || port > 65535) {
            throw new IllegalArgumentException("meter address '" + address + "' is not host:port");
        }
        this.channel = ManagedChannelBuilder.forAddress(address.substring(0, colon), port).usePlaintext().build();
        this.meter = MeterGrpc.newBlockingStub(channel);
    }

    @Override
    public Window begin(Map<String, String> labels) {
        try {
            BeginWindowResponse r = meter.withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS)
                    .beginWindow(BeginWindowRequest.newBuilder().putAllLabels(labels).build());
            return new Window(r.getWindowId(), r.getStart().getSeconds() * 1_000_000_000L + r.getStart().getNanos());
        } catch (StatusRuntimeException e) {
            throw new MeteringException("meter-daemon at " + address + ": BeginWindow failed: " + e.getStatus(), e);
        }
    }

    @Override
    public WindowEnergy end(Window window) {
        try {
            return meter.withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS)
                    .endWindow(EndWindowRequest.newBuilder().setWindowId(window.id()).build());
        } catch (StatusRuntimeException e) {
            throw new MeteringException("meter-daemon at " + address + ": EndWindow " + window.id() + " failed: "
                    + e.getStatus(), e);
        }
    }

    @Override
    public String describe() {
        return "meter-daemon at " + address;
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
