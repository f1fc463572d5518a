package io.wattlab.trainer.cli;

import io.wattlab.testing.Ports;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.wattlab.proto.v1.GetRunRequest;
import io.wattlab.proto.v1.Run;
import io.wattlab.proto.v1.RunEvent;
import io.wattlab.proto.v1.RunState;
import io.wattlab.proto.v1.StartRunRequest;
import io.wattlab.proto.v1.TrainerGrpc;
import io.wattlab.proto.v1.WatchRunRequest;
import io.wattlab.trainer.run.ScriptedExecutor;
import io.wattlab.trainer.store.RunStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The command line as a user runs it: a separate JVM, configured by environment variables, with the
 * scripted executor standing in for the real one ({@code WATTLAB_TRAINER_EXECUTOR=scripted}).
 */
class MainProcessTest {

    @TempDir
    Path dir;

    record Result(int exitCode, String stdout, String stderr) {
    }

    static ProcessBuilder command(Map<String, String> env, Path stderr, String... args) {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().keySet().removeIf(k -> k.startsWith("WATTLAB_") || k.startsWith("GRPC_"));
        builder.environment().put("WATTLAB_TRAINER_EXECUTOR", "scripted");
        // The in-process meter that comes with meter-daemon stays quiet and cheap here.
        builder.environment().put("WATTLAB_NVML_ENABLED", "false");
        builder.environment().put("WATTLAB_RAPL_ENABLED", "false");
        builder.environment().putAll(env);
        builder.redirectError(stderr.toFile());
        return builder;
    }

    Result run(Map<String, String> env, String... args) throws IOException, InterruptedException {
        Path err = Files.createTempFile(dir, "stderr", ".txt");
        Map<String, String> all = new HashMap<>(Map.of("WATTLAB_TRAINER_RUNS_DIR", dir.resolve("runs").toString()));
        all.putAll(env);
        Process process = command(all, err, args).start();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(120, TimeUnit.SECONDS), "trainer-service did not exit");
        return new Result(process.exitValue(), out, Files.readString(err));
    }

    Path spec(String name, String yaml) throws IOException {
        return Files.writeString(dir.resolve(name), yaml);
    }

    static final String SCRIPTED = """
            model: {builtin: resnet-cifar}
            dataset:
              format: synthetic
              options: {classes: 10, script.step-millis: 10}
            epochs: 2
            idle_seconds: 0
            labels: {study: cli}
            """;

    @Test
    void runWithJsonPrintsTheFinishedRunAndExitsZero() throws Exception {
        Result r = run(Map.of(), "run", spec("ok.yaml", SCRIPTED).toString(), "--json");
        assertEquals(0, r.exitCode(), r.stderr());
        Run run = RunStore.parse(r.stdout());
        assertEquals(RunState.RUN_STATE_SUCCEEDED, run.getState());
        assertEquals("cli", run.getSpec().getLabelsOrThrow("study"));
        assertEquals(32, run.getSpec().getBatchSize(), "defaults filled in");
        assertEquals(2, run.getReport().getEpochsCount());
        assertEquals(5, run.getReport().getPhasesCount());
        assertTrue(run.getReport().getEnergy().getEnergyJoules() > 0);
        assertEquals("", r.stderr(), "--json prints nothing else");
        assertFalse(Files.exists(dir.resolve("runs")) && Files.list(dir.resolve("runs")).anyMatch(p -> p.toString().endsWith(".json")),
                "a one-shot run leaves the service's runs directory alone");
    }

    @Test
    void aFailedRunPrintsItsPartialReportAndExitsOneWithTheErrorOnStderr() throws Exception {
        Path file = spec("fail.yaml", SCRIPTED.replace("script.step-millis: 10", "script.step-millis: 5, script.fail-epoch: 2"));
        Result r = run(Map.of(), "run", file.toString());
        assertEquals(1, r.exitCode(), r.stderr());
        assertTrue(r.stdout().contains("FAILED  resnet-cifar on synthetic, 2 epochs, cpu\n"
                + "error: train loss is NaN at phase train, epoch 2, step 2\n"), r.stdout());
        assertTrue(r.stdout().contains("\nepochs\n"), "the first epoch is in the table: " + r.stdout());
        List<String> errLines = r.stderr().lines().toList();
        assertTrue(errLines.get(errLines.size() - 1).matches(
                "trainer-service: run \\S+ failed: train loss is NaN at phase train, epoch 2, step 2"), r.stderr());
        assertTrue(r.stderr().contains("  train epoch 1 ..."), "progress goes to stderr: " + r.stderr());
    }

    @Test
    void ctrlCCancelsTheRunAtItsNextStepAndPrintsWhatItMeasured() throws Exception {
        Path file = spec("long.yaml", SCRIPTED.replace("script.step-millis: 10", "script.step-millis: 50, script.steps: 400"));
        Path err = Files.createTempFile(dir, "stderr", ".txt");
        Process process = command(Map.of("WATTLAB_TRAINER_RUNS_DIR", dir.resolve("runs").toString()), err,
                "run", file.toString()).start();
        java.util.concurrent.CompletableFuture<String> stdout = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!read(err).contains("  train epoch 1 ...") && System.nanoTime() < deadline && process.isAlive()) {
            Thread.sleep(50);
        }
        assertTrue(process.isAlive(), () -> "exited early: " + read(err));
        Thread.sleep(300);
        assertEquals(0, new ProcessBuilder("kill", "-INT", Long.toString(process.pid())).start().waitFor());
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "trainer-service did not stop after SIGINT");
        assertEquals(130, process.exitValue(), "the exit status of a process ended by SIGINT");
        String table = stdout.get(10, TimeUnit.SECONDS);
        assertTrue(table.contains("CANCELLED  resnet-cifar on synthetic, 2 epochs, cpu\nerror: cancelled by CancelRun at"
                + " phase train, epoch 1, step "), table + "\nstderr: " + read(err));
        assertTrue(table.contains("\nenergy ") && !table.contains("energy             0.0 J"), table);
        assertTrue(read(err).contains("trainer-service: stopping run "), read(err));
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return e.toString();
        }
    }

    @Test
    void aBadSpecExitsTwoWithOneLineNamingTheFileAndTheField() throws Exception {
        Path optimizer = spec("adam.yaml", SCRIPTED + "optimizer: {name: adam}\n");
        Result r = run(Map.of(), "run", optimizer.toString());
        assertEquals(2, r.exitCode());
        assertEquals("trainer-service: " + optimizer + ": spec.optimizer.name: unknown optimizer 'adam' (known: sgd, adamw)\n",
                r.stderr());
        assertEquals("", r.stdout());

        Path unknown = spec("typo.yaml", SCRIPTED + "learning_rat: 0.1\n");
        Result typo = run(Map.of(), "run", unknown.toString(), "--json");
        assertEquals(2, typo.exitCode());
        assertEquals(1, typo.stderr().lines().count(), typo.stderr());
        assertTrue(typo.stderr().startsWith("trainer-service: " + unknown + ": spec.learning_rat: unknown field"), typo.stderr());

        Path model = spec("model.yaml", SCRIPTED.replace("{builtin: resnet-cifar}", "{onnx_path: " + dir.resolve("gone.onnx") + "}"));
        Result missing = run(Map.of(), "run", model.toString());
        assertEquals(2, missing.exitCode());
        assertEquals("trainer-service: " + model + ": spec.model.onnx_path: no such file: " + dir.resolve("gone.onnx") + "\n",
                missing.stderr());
    }

    @Test
    void aBadSettingStopsServeWithOneLine() throws Exception {
        Result r = run(Map.of("WATTLAB_TRAINER_MAX_RUNS_PER_DEVICE", "none"), "serve");
        assertEquals(2, r.exitCode());
        assertEquals("trainer-service: invalid configuration: wattlab.trainer.max-runs-per-device"
                + " (WATTLAB_TRAINER_MAX_RUNS_PER_DEVICE) = 'none': expected a whole number greater than 0\n", r.stderr());
    }

    @Test
    void serveRefusesARunsDirectoryThatIsNotADirectoryInOneLine() throws Exception {
        Path file = Files.writeString(dir.resolve("not-a-dir"), "");
        Result r = run(Map.of("WATTLAB_TRAINER_RUNS_DIR", file.toString()), "serve");
        assertEquals(2, r.exitCode());
        assertEquals(1, r.stderr().lines().count(), r.stderr());
        assertTrue(r.stderr().startsWith("trainer-service: runs directory " + file + " cannot be created"), r.stderr());
    }

    @Test
    void aServiceKilledMidRunMarksTheRunFailedWhenItStartsAgain() throws Exception {
        Path runs = dir.resolve("runs");
        int port = Ports.free();
        Map<String, String> env = Map.of("WATTLAB_TRAINER_RUNS_DIR", runs.toString(), "GRPC_SERVER_PORT", Integer.toString(port));
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        try {
            TrainerGrpc.TrainerBlockingStub trainer = TrainerGrpc.newBlockingStub(channel);
            Process first = command(env, dir.resolve("first.txt"), "serve").start();
            String runId;
            try {
                awaitServing(channel, first);
                runId = trainer.startRun(StartRunRequest.newBuilder().setSpec(ScriptedExecutor.spec(1000, 30)).build()).getRunId();
                Iterator<RunEvent> events = trainer.withDeadlineAfter(60, TimeUnit.SECONDS)
                        .watchRun(WatchRunRequest.newBuilder().setRunId(runId).build());
                while (!events.next().hasEpoch()) {
                    // until the first epoch is recorded
                }
            } finally {
                first.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
            }
            Process second = command(env, dir.resolve("second.txt"), "serve").start();
            try {
                awaitServing(channel, second);
                Run run = trainer.getRun(GetRunRequest.newBuilder().setRunId(runId).build());
                assertEquals(RunState.RUN_STATE_FAILED, run.getState());
                assertTrue(run.getError().matches("the service stopped while this run was running \\(phase train, epoch \\d+\\)"),
                        run.getError());
                assertTrue(run.getReport().getEpochsCount() >= 1, "the epochs recorded before the kill are kept");
            } finally {
                second.destroy();
                assertTrue(second.waitFor(30, TimeUnit.SECONDS), "serve did not stop on SIGTERM");
            }
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    private static void awaitServing(ManagedChannel channel, Process process) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            assertTrue(process.isAlive(), "serve exited with " + (process.isAlive() ? "" : process.exitValue()));
            try {
                HealthCheckResponse health = HealthGrpc.newBlockingStub(channel).withDeadlineAfter(2, TimeUnit.SECONDS)
                        .check(HealthCheckRequest.getDefaultInstance());
                if (health.getStatus() == HealthCheckResponse.ServingStatus.SERVING) {
                    return;
                }
            } catch (StatusRuntimeException e) {
                // not listening yet
            }
            assertTrue(System.nanoTime() < deadline, "serve did not answer within 60 s");
            Thread.sleep(100);
        }
    }


    @Test
    void pretrainWritesACheckpointThatARunSpecCanName() throws Exception {
        // In this JVM: a separate JVM on Maven's test class path dies in native code here (see the
        // session notes); bin/trainer-service's own class path does not.
        Path checkpoint = dir.resolve("ckpt").resolve("resnet-cifar.onnx");
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        int status = Main.pretrain(new String[]{"--model", "resnet-cifar", "--out", checkpoint.toString(),
                "--epochs", "1", "--images", "64", "--classes", "3"}, new java.io.PrintStream(out, true),
                new java.io.PrintStream(err, true));
        assertEquals(0, status, err.toString());
        assertTrue(out.toString().startsWith("pretrained resnet-cifar: 1 epochs"), out.toString());
        assertTrue(Files.size(checkpoint) > 100_000, "checkpoint of " + Files.size(checkpoint) + " bytes");
        ai.onnx.proto.OnnxMl.ModelProto model = io.wattlab.trainer.onnx.OnnxModels.read(checkpoint);
        assertEquals(3, model.getGraph().getOutput(0).getType().getTensorType().getShape().getDim(1).getDimValue());
    }

    @Test
    void pretrainRefusesAnUnknownModelOrOptionInOneLine() throws Exception {
        Result model = run(Map.of(), "pretrain", "--model", "vgg-cifar", "--out", dir.resolve("x.onnx").toString());
        assertEquals(2, model.exitCode());
        assertTrue(model.stderr().startsWith("trainer-service: pretrain: unknown built-in model 'vgg-cifar' (known: "),
                model.stderr());
        Result option = run(Map.of(), "pretrain", "--model", "resnet-cifar", "--out", dir.resolve("x.onnx").toString(),
                "--speed", "fast");
        assertEquals(2, option.exitCode());
        assertTrue(option.stderr().startsWith("trainer-service: pretrain: unknown option --speed"), option.stderr());
    }
}
