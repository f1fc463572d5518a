package io.wattlab.meter.api;

import io.wattlab.testing.Ports;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.micronaut.context.ApplicationContext;
import io.micronaut.runtime.server.EmbeddedServer;
import io.wattlab.proto.v1.MeterGrpc;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** The daemon as a service: Micronaut's gRPC server on a free loopback port, and a client channel to it. */
final class RunningMeter implements AutoCloseable {

    final EmbeddedServer server;
    final ManagedChannel channel;
    final MeterGrpc.MeterBlockingStub meter;

    RunningMeter(Map<String, Object> settings) {
        Map<String, Object> properties = new HashMap<>(settings);
        properties.put("grpc.server.port", Ports.free());
        properties.put("grpc.server.host", "127.0.0.1");
        server = ApplicationContext.run(EmbeddedServer.class, properties);
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        meter = MeterGrpc.newBlockingStub(channel);
    }


    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.getApplicationContext().close();
    }
}
