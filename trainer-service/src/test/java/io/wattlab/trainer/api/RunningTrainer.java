package io.wattlab.trainer.api;

import io.wattlab.testing.Ports;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.micronaut.context.ApplicationContext;
import io.micronaut.runtime.server.EmbeddedServer;
import io.wattlab.proto.v1.TrainerGrpc;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** The trainer as a service: Micronaut's gRPC server on a free loopback port with the scripted executor, and a client. */
final class RunningTrainer implements AutoCloseable {

    final EmbeddedServer server;
    final ManagedChannel channel;
    final TrainerGrpc.TrainerBlockingStub trainer;
    final TrainerGrpc.TrainerStub async;

    RunningTrainer(Path runsDir, Map<String, Object> settings) {
        Map<String, Object> properties = new HashMap<>(settings);
        properties.put("grpc.server.port", Ports.free());
        properties.put("grpc.server.host", "127.0.0.1");
        properties.put("wattlab.trainer.runs-dir", runsDir.toString());
        properties.put("wattlab.trainer.executor", "scripted");
        server = ApplicationContext.run(EmbeddedServer.class, properties);
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        trainer = TrainerGrpc.newBlockingStub(channel);
        async = TrainerGrpc.newStub(channel);
    }

    RunningTrainer(Path runsDir) {
        this(runsDir, Map.of());
    }


    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.getApplicationContext().close();
    }
}
