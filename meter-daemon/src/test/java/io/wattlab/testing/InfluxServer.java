package io.wattlab.testing;

import org.influxdb.InfluxDB;
import org.influxdb.InfluxDBException;
import org.influxdb.InfluxDBFactory;
import org.influxdb.dto.Query;
import org.influxdb.dto.QueryResult;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real {@code influxd} (InfluxDB 1.x) for tests: private loopback ports, its own data in a temp
 * directory under {@code target/}, stoppable and restartable on the same port and data to stage an
 * outage. The binary is {@code $WATTLAB_INFLUXD} or {@code /usr/bin/influxd}.
 *
 * <pre>{@code
 * try (InfluxServer influx = InfluxServer.launch()) {
 *     ... write to influx.url() ...
 *     List<InfluxServer.Row> rows = influx.rows("db", "SELECT * FROM power");
 * }
 * }</pre>
 */
public final class InfluxServer implements AutoCloseable {

    /** One row of a query answer, with the tags of the series it belongs to. */
    public record Row(String measurement, Map<String, String> tags, Map<String, Object> values) {

        /** The {@code time} column: queries answer RFC 3339 with nanoseconds, so this is exact. */
        public Instant time() {
            return Instant.parse((String) values.get("time"));
        }

        public long timeNanos() {
            Instant time = time();
            return time.getEpochSecond() * 1_000_000_000L + time.getNano();
        }

        /** A numeric column; InfluxDB's JSON numbers arrive as doubles. */
        public double number(String column) {
            Object value = values.get(column);
            if (!(value instanceof Number number)) {
                throw new AssertionError("column " + column + " of " + this + " is not a number");
            }
            return number.doubleValue();
        }
    }

    private static final String BINARY_VARIABLE = "WATTLAB_INFLUXD";
    private static final Path DEFAULT_BINARY = Path.of("/usr/bin/influxd");
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);

    private final Path binary;
    private final Path directory;
    private final Path configFile;
    private final Path logFile;
    private int httpPort;
    private boolean everStarted;
    private final Thread shutdownHook;
    private Process process;
    private InfluxDB client;
    private boolean closed;

    /** Prepares a server (ports, directories, config) without starting it; see {@link #launch()}. */
    public InfluxServer() {
        this.binary = findBinary();
        try {
            Path base = Path.of("target", "influxd").toAbsolutePath();
            Files.createDirectories(base);
            this.directory = Files.createTempDirectory(base, "run-");
            this.configFile = directory.resolve("influxdb.conf");
            this.logFile = directory.resolve("influxd.log");
            choosePorts();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare a directory for influxd under target/: " + e.getMessage(), e);
        }
        this.shutdownHook = new Thread(this::kill, "influxd-killer");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /** A started server. */
    public static InfluxServer launch() {
        InfluxServer server = new InfluxServer();
        try {
            server.start();
        } catch (RuntimeException e) {
            server.close();
            throw e;
        }
        return server;
    }

    /** The HTTP endpoint, e.g. {@code http://127.0.0.1:41234}. */
    public String url() {
        return "http://127.0.0.1:" + httpPort;
    }

    public int port() {
        return httpPort;
    }

    public synchronized boolean isRunning() {
        return process != null && process.isAlive();
    }

    /** Starts influxd (again, on the same port and data) and waits until GET /ping answers 204. */
    public synchronized void start() {
        if (closed) {
            throw new IllegalStateException("InfluxServer on port " + httpPort + " is closed");
        }
        if (isRunning()) {
            return;
        }
        // Another process may take a port between choosing it and influxd binding it; before the
        // first start nobody knows the port yet, so choosing others is harmless.
        for (int attempt = 1; !everStarted && attempt < 3; attempt++) {
            try {
                startProcess();
                everStarted = true;
                return;
            } catch (IllegalStateException e) {
                if (!logTail().contains("address already in use")) {
                    throw e;
                }
                try {
                    choosePorts();
                } catch (IOException io) {
                    throw new UncheckedIOException(io);
                }
            }
        }
        startProcess();
        everStarted = true;
    }

    private void startProcess() {
        try {
            process = new ProcessBuilder(binary.toString(), "-config", configFile.toString())
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + binary + ": " + e.getMessage(), e);
        }
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("influxd exited with status " + process.exitValue()
                        + " while starting on port " + httpPort + "; its log ends with:\n" + logTail());
            }
            if (pingAnswers()) {
                return;
            }
            sleep(50);
        }
        kill();
        throw new IllegalStateException("influxd did not answer GET /ping on port " + httpPort + " within "
                + START_TIMEOUT.toSeconds() + " s; its log ends with:\n" + logTail());
    }

    /**
     * Freezes influxd (SIGSTOP): connections are still accepted by the kernel but nothing answers,
     * as with an overloaded or hung server.
     */
    public synchronized void pause() {
        signal("STOP");
    }

    /** Lets a paused influxd go on (SIGCONT). */
    public synchronized void resume() {
        signal("CONT");
    }

    /** Stops influxd (SIGTERM, then SIGKILL if it lingers) and waits for it to exit; its data stays. */
    public synchronized void stop() {
        if (process == null) {
            return;
        }
        if (process.isAlive()) {
            signal("CONT");
        }
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        process = null;
    }

    /** Runs InfluxQL against {@code database} (null for none) and fails on any error in the answer. */
    public QueryResult query(String database, String influxql) {
        QueryResult result;
        try {
            result = client().query(new Query(influxql, database, true));
        } catch (InfluxDBException e) {
            throw new AssertionError("query failed: " + influxql + ": " + e.getMessage(), e);
        }
        if (result.hasError()) {
            throw new AssertionError("query failed: " + influxql + ": " + result.getError());
        }
        for (QueryResult.Result statement : result.getResults()) {
            if (statement.hasError()) {
                throw new AssertionError("query failed: " + influxql + ": " + statement.getError());
            }
        }
        return result;
    }

    /** Writes points given in line protocol with nanosecond timestamps to {@code database}. */
    public void write(String database, String... lines) {
        client().write(database, null, InfluxDB.ConsistencyLevel.ONE, TimeUnit.NANOSECONDS, List.of(lines));
    }

    /** The rows of every series of every statement of the answer, in order. */
    public List<Row> rows(String database, String influxql) {
        List<Row> rows = new ArrayList<>();
        for (QueryResult.Result statement : query(database, influxql).getResults()) {
            if (statement.getSeries() == null) {
                continue;
            }
            for (QueryResult.Series series : statement.getSeries()) {
                Map<String, String> tags = series.getTags() == null ? Map.of() : Map.copyOf(series.getTags());
                for (List<Object> values : series.getValues()) {
                    Map<String, Object> row = new LinkedHashMap<>();
                    for (int i = 0; i < series.getColumns().size(); i++) {
                        row.put(series.getColumns().get(i), values.get(i));
                    }
                    rows.add(new Row(series.getName(), tags, row));
                }
            }
        }
        return rows;
    }

    /** Stops influxd, removes the shutdown hook and deletes the data; calling it again does nothing. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (client != null) {
            client.close();
        }
        stop();
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException alreadyShuttingDown) {
            // The hook runs anyway and finds nothing to kill.
        }
        deleteRecursively(directory);
    }

    private synchronized InfluxDB client() {
        if (client == null) {
            client = InfluxDBFactory.connect(url());
        }
        return client;
    }

    private void signal(String name) {
        if (!isRunning()) {
            throw new IllegalStateException("influxd on port " + httpPort + " is not running");
        }
        try {
            Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).inheritIO().start();
            if (kill.waitFor() != 0) {
                throw new IllegalStateException("kill -" + name + " " + process.pid() + " failed");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run kill: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while signalling influxd", e);
        }
    }

    private void kill() {
        Process running = process;
        if (running != null && running.isAlive()) {
            running.destroyForcibly();
        }
    }

    private boolean pingAnswers() {
        try {
            HttpURLConnection ping = (HttpURLConnection) URI.create(url() + "/ping").toURL().openConnection();
            ping.setConnectTimeout(500);
            ping.setReadTimeout(1000);
            try {
                return ping.getResponseCode() == 204;
            } finally {
                ping.disconnect();
            }
        } catch (IOException notYet) {
            return false;
        }
    }

    private String logTail() {
        try {
            List<String> lines = Files.readAllLines(logFile, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    private void choosePorts() throws IOException {
        int[] ports = freeLoopbackPorts(2);
        httpPort = ports[0];
        Files.writeString(configFile, config(ports[0], ports[1]), StandardCharsets.UTF_8);
    }

    private String config(int httpPort, int rpcPort) {
        Path data = directory.toAbsolutePath();
        return """
                reporting-disabled = true
                bind-address = "127.0.0.1:%2$d"

                [meta]
                  dir = "%3$s/meta"
                  logging-enabled = false

                [data]
                  dir = "%3$s/data"
                  wal-dir = "%3$s/wal"
                  query-log-enabled = false

                [monitor]
                  store-enabled = false

                [retention]
                  enabled = false

                [continuous_queries]
                  enabled = false
                  log-enabled = false

                [http]
                  bind-address = "127.0.0.1:%1$d"
                  log-enabled = false
                  pprof-enabled = false

                [logging]
                  level = "error"
                  suppress-logo = true
                """.formatted(httpPort, rpcPort, data);
    }

    private static Path findBinary() {
        String configured = System.getenv(BINARY_VARIABLE);
        Path binary = configured == null || configured.isBlank() ? DEFAULT_BINARY : Path.of(configured);
        if (!Files.isExecutable(binary)) {
            throw new IllegalStateException("influxd not found at " + binary + ": install InfluxDB 1.x with "
                    + "`apt-get install -y influxdb`, or set " + BINARY_VARIABLE + " to the path of an influxd binary");
        }
        return binary;
    }

    // The sockets stay open until all ports are chosen, so the ports differ from each other.
    private static int[] freeLoopbackPorts(int count) throws IOException {
        InetAddress loopback = InetAddress.getLoopbackAddress();
        List<ServerSocket> sockets = new ArrayList<>();
        try {
            int[] ports = new int[count];
            for (int i = 0; i < count; i++) {
                ServerSocket socket = new ServerSocket(0, 1, loopback);
                sockets.add(socket);
                ports[i] = socket.getLocalPort();
            }
            return ports;
        } finally {
            for (ServerSocket socket : sockets) {
                socket.close();
            }
        }
    }

    private static void deleteRecursively(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        } catch (IOException e) {
            // Only disk space in target/ is at stake.
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for influxd", e);
        }
    }
}
