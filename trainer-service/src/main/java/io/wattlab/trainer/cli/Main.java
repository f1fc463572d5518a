package io.wattlab.trainer.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.micronaut.context.ApplicationContext;
import io.micronaut.runtime.Micronaut;
import io.wattlab.meter.config.ConfigException;
import io.wattlab.meter.config.Settings;
import io.wattlab.proto.v1.EpochReport;
import io.wattlab.proto.v1.Run;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.proto.v1.RunState;
import io.wattlab.trainer.data.DatasetException;
import io.wattlab.trainer.model.Pretrainer;
import io.wattlab.trainer.run.InvalidSpecException;
import io.wattlab.trainer.run.RunExecutor;
import io.wattlab.trainer.run.RunFinishedException;
import io.wattlab.trainer.run.RunScheduler;
import io.wattlab.trainer.run.RunSpecs;
import io.wattlab.trainer.run.RunWatch;
import io.wattlab.trainer.run.TrainerConfig;
import io.wattlab.trainer.run.UnknownRunException;
import io.wattlab.trainer.store.RunStore;
import io.wattlab.trainer.store.StoreException;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.Map;

/** {@code trainer-service serve | run SPEC.yaml [--json] | pretrain | capacity SPEC.yaml}: the trainer's command line. */
public final class Main {

    private static final String USAGE = """
            usage: trainer-service <command>
              serve                  serve the wattlab.v1.Trainer gRPC API (port: GRPC_SERVER_PORT, default 50052),
                                     keeping run records in WATTLAB_TRAINER_RUNS_DIR (default ~/.wattlab/runs)
              run SPEC.yaml [--json] run one spec here and now, print its report as tables (or the run as JSON);
                                     exit 0 when it succeeded, 1 when it failed, 2 when the spec is wrong
              pretrain --model NAME --out FILE.onnx [--epochs N] [--classes N] [--images N]
                                     pre-train a built-in model (resnet-cifar, mobilenet-cifar) on a seeded
                                     synthetic source task and write the checkpoint a run spec can name
            """ + CapacityCommand.USAGE + """
            configuration: environment variables WATTLAB_* (see README.md)""";

    /** How long a signal waits for the cancelled run's report before the JVM exits anyway. */
    static final long SIGNAL_GRACE_SECONDS = 60;

    /** Exit status of {@code run} for a run that did not succeed. */
    static final int EXIT_FAILED = 1;
    /** Exit status for a spec, argument or setting that is wrong. */
    static final int EXIT_USAGE = 2;

    private Main() {
    }

    public static void main(String[] args) {
        String command = args.length == 0 ? "serve" : args[0];
        String[] rest = args.length == 0 ? args : Arrays.copyOfRange(args, 1, args.length);
        int status;
        try {
            switch (command) {
                case "serve" -> {
                    // Checked before Micronaut starts: a bad value, or a runs directory that cannot be used
                    // or is held by another service, is then one line, not a bean-creation trace.
                    TrainerConfig config = Settings.withEnvironment(Main.class, rest, TrainerConfig::from);
                    RunStore.open(config.runsDir()).close();
                    Micronaut.build(rest).mainClass(Main.class).banner(false).start();
                    return;
                }
                case "run" -> {
                    if (System.getenv("WATTLAB_LOG_LEVEL") == null) {
                        // The report is the output; the service's log lines would bury it.
                        System.setProperty("WATTLAB_LOG_LEVEL", "WARN");
                    }
                    status = run(rest, System.out, System.err);
                }
                case "pretrain" -> status = pretrain(rest, System.out, System.err);
                case "capacity" -> status = CapacityCommand.run(rest, System.out, System.err);
                case "-h", "--help", "help" -> {
                    System.out.println(USAGE);
                    status = 0;
                }
                default -> {
                    System.err.println("trainer-service: unknown command '" + command + "'\n" + USAGE);
                    status = EXIT_USAGE;
                }
            }
        } catch (RuntimeException e) {
            String oneLine = oneLineCause(e);
            if (oneLine == null) {
                throw e;
            }
            System.err.println("trainer-service: " + oneLine);
            status = EXIT_USAGE;
        }
        System.exit(status);
    }

    /**
     * Runs one spec in this process with the service's own scheduler and executor, and prints what
     * it did. The run is kept in memory only: a service may be using the runs directory.
     */
    static int run(String[] args, PrintStream out, PrintStream err) {
        Path specFile = null;
        boolean json = false;
        List<String> micronautArgs = new ArrayList<>();
        for (String arg : args) {
            if (arg.equals("--json")) {
                json = true;
            } else if (arg.startsWith("-")) {
                micronautArgs.add(arg);
            } else if (specFile == null) {
                specFile = Path.of(arg);
            } else {
                err.println("trainer-service: run takes one spec file; '" + arg + "' is a second\n" + USAGE);
                return EXIT_USAGE;
            }
        }
        if (specFile == null) {
            err.println("trainer-service: run needs a spec file\n" + USAGE);
            return EXIT_USAGE;
        }
        RunSpec spec;
        try {
            spec = RunSpecs.validate(SpecFile.read(specFile));
        } catch (SpecFileException e) {
            err.println("trainer-service: " + e.getMessage());
            return EXIT_USAGE;
        } catch (InvalidSpecException e) {
            err.println("trainer-service: " + specFile + ": " + e.getMessage());
            return EXIT_USAGE;
        }

        String[] contextArgs = micronautArgs.toArray(String[]::new);
        TrainerConfig config = Settings.withEnvironment(Main.class, contextArgs, TrainerConfig::from);
        try (ApplicationContext context = ApplicationContext.builder(Main.class).args(contextArgs).start();
             RunScheduler scheduler = new RunScheduler(RunStore.inMemory(), executor(context), config)) {
            Run queued = scheduler.submit(spec);
            boolean quiet = json;
            RunWatch progress = scheduler.watch(queued.getRunId(), event -> {
                if (quiet) {
                    return;
                }
                if (event.hasPhase() && event.getPhase().getStarted()) {
                    err.println("  " + event.getPhase().getPhase()
                            + (event.getPhase().getEpoch() > 0 ? " epoch " + event.getPhase().getEpoch() : "") + " ...");
                } else if (event.hasEpoch()) {
                    EpochReport e = event.getEpoch();
                    err.println(String.format(Locale.ROOT, "  epoch %d: train loss %.4f, top-1 %.4f, %.1f J",
                            e.getEpoch(), e.getTrainLoss(), e.getTop1(), e.getEnergyJoules()));
                }
            });
            // Ctrl-C (SIGINT) or a SIGTERM: cancel the run at its next step and let this thread print
            // the partial report before the JVM goes; the hook waits for that, up to a bound.
            CountDownLatch reported = new CountDownLatch(1);
            Thread onSignal = new Thread(() -> {
                try {
                    scheduler.cancel(queued.getRunId());
                    err.println("trainer-service: stopping run " + queued.getRunId() + " at its next step ...");
                    reported.await(SIGNAL_GRACE_SECONDS, TimeUnit.SECONDS);
                } catch (RunFinishedException | UnknownRunException e) {
                    // finished meanwhile: the main thread prints it
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "trainer-service run signal");
            Runtime.getRuntime().addShutdownHook(onSignal);
            Run run;
            try {
                run = scheduler.awaitFinished(queued.getRunId());
                progress.close();
                out.print(json ? JsonFormat.printer().print(run) + "\n" : ReportTable.render(run));
                out.flush();
            } finally {
                reported.countDown();
            }
            try {
                Runtime.getRuntime().removeShutdownHook(onSignal);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running: it has cancelled the run, whose report is out
            }
            if (run.getState() == RunState.RUN_STATE_SUCCEEDED) {
                return 0;
            }
            err.println("trainer-service: run " + run.getRunId() + " " + run.getState().name().replace("RUN_STATE_", "")
                    .toLowerCase(Locale.ROOT) + ": " + run.getError());
            return EXIT_FAILED;
        } catch (InvalidSpecException e) {
            err.println("trainer-service: " + specFile + ": " + e.getMessage());
            return EXIT_USAGE;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            err.println("trainer-service: interrupted");
            return EXIT_FAILED;
        } catch (InvalidProtocolBufferException | UnknownRunException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Pre-trains a built-in model on a synthetic source task and writes its checkpoint. */
    static int pretrain(String[] args, PrintStream out, PrintStream err) {
        Map<String, String> options = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                err.println("trainer-service: pretrain: '" + args[i] + "' needs a value (--name value)\n" + USAGE);
                return EXIT_USAGE;
            }
            options.put(args[i].substring(2), args[++i]);
        }
        if (!options.containsKey("model") || !options.containsKey("out")) {
            err.println("trainer-service: pretrain needs --model and --out\n" + USAGE);
            return EXIT_USAGE;
        }
        Pretrainer.Config config;
        try {
            Pretrainer.Config d = Pretrainer.Config.defaults(options.remove("model"));
            Path checkpoint = Path.of(options.remove("out"));
            int epochs = intOption(options, "epochs", d.epochs());
            int classes = intOption(options, "classes", d.sourceClasses());
            int images = intOption(options, "images", d.trainImages());
            if (!options.isEmpty()) {
                err.println("trainer-service: pretrain: unknown option --" + options.keySet().iterator().next() + "\n" + USAGE);
                return EXIT_USAGE;
            }
            config = new Pretrainer.Config(d.model(), classes, d.channels(), d.height(), d.width(), images,
                    d.testImages(), d.difficulty(), epochs, d.batchSize(), d.learningRate(), d.seed(), d.intraOpThreads());
            Files.createDirectories(checkpoint.toAbsolutePath().getParent());
            Pretrainer.Report report = Pretrainer.run(config, checkpoint);
            out.println(String.format(Locale.ROOT,
                    "pretrained %s: %d epochs, final loss %.4f, top-1 %.4f on %d source-task test images, %.1f s -> %s",
                    report.model(), report.epochs(), report.finalLoss(), report.top1(), report.testImages(),
                    report.seconds(), report.checkpoint()));
            return 0;
        } catch (IllegalArgumentException e) {
            err.println("trainer-service: pretrain: " + e.getMessage());
            return EXIT_USAGE;
        } catch (IOException | DatasetException e) {
            err.println("trainer-service: pretrain: " + e.getMessage());
            return EXIT_FAILED;
        }
    }

    private static int intOption(Map<String, String> options, String name, int fallback) {
        String raw = options.remove(name);
        if (raw == null) {
            return fallback;
        }
        try {
            return Integer.parseInt(raw);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + " '" + raw + "' is not a whole number");
        }
    }

    private static RunExecutor executor(ApplicationContext context) {
        return context.findBean(RunExecutor.class).orElseThrow(() -> new ConfigException(
                "this build has no run executor (no RunExecutor bean on the class path)"));
    }

    /** Micronaut wraps an exception thrown while creating a bean; the user needs only the one line it began as. */
    static String oneLineCause(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof ConfigException || c instanceof StoreException) {
                return c.getMessage();
            }
        }
        return null;
    }
}
