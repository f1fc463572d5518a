package io.wattlab.meter.cli;

import io.micronaut.runtime.Micronaut;
import io.wattlab.meter.config.ConfigException;
import io.wattlab.meter.config.MeterConfig;
import io.wattlab.meter.config.Settings;

import java.util.Arrays;

/** {@code meter-daemon serve | probe}: the daemon's command line. */
public final class Main {

    private static final String USAGE = """
            usage: meter-daemon <command>
              serve   run the daemon: sample every sensor, write InfluxDB if WATTLAB_INFLUX_URL is set,
                      serve the wattlab.v1.Meter gRPC API (port: GRPC_SERVER_PORT, default 50051)
              probe   print the sensors found and one reading of each as JSON, then exit
            configuration: environment variables WATTLAB_* (see README.md)""";

    private Main() {
    }

    public static void main(String[] args) {
        String command = args.length == 0 ? "serve" : args[0];
        String[] rest = args.length == 0 ? args : Arrays.copyOfRange(args, 1, args.length);
        try {
            switch (command) {
                case "serve" -> {
                    // Checked before Micronaut starts: a bad value is then one line, not a bean-creation trace.
                    Settings.withEnvironment(Main.class, rest, MeterConfig::from);
                    Micronaut.build(rest).mainClass(Main.class).banner(false).start();
                }
                case "probe" -> System.out.println(Settings.withEnvironment(Main.class, rest, Probe::run));
                case "-h", "--help", "help" -> System.out.println(USAGE);
                default -> {
                    System.err.println("meter-daemon: unknown command '" + command + "'\n" + USAGE);
                    System.exit(2);
                }
            }
        } catch (RuntimeException e) {
            ConfigException config = configCause(e);
            if (config == null) {
                throw e;
            }
            System.err.println("meter-daemon: " + config.getMessage());
            System.exit(2);
        }
    }

    /** Micronaut wraps an exception thrown while creating a bean; the user needs only the one line it began as. */
    static ConfigException configCause(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof ConfigException config) {
                return config;
            }
        }
        return null;
    }
}
