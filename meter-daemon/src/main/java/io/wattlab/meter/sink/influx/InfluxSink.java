package io.wattlab.meter.sink.influx;

import io.wattlab.meter.sample.Sample;
import io.wattlab.meter.sink.SampleSink;
import okhttp3.OkHttpClient;
import org.influxdb.InfluxDB;
import org.influxdb.InfluxDBException;
import org.influxdb.InfluxDBFactory;
import org.influxdb.InfluxDBIOException;
import org.influxdb.dto.Query;
import org.influxdb.dto.QueryResult;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Writes samples to InfluxDB through its 1.x /write and /query endpoints (which InfluxDB 2 and 3
 * also serve), without ever making the sampler wait for the network: {@link #accept} only
 * enqueues, and a writer thread batches by size and interval. A batch that cannot be written goes
 * to a bounded on-disk {@link Spool}, which is replayed oldest first when InfluxDB answers again,
 * also after a restart of the daemon.
 */
public final class InfluxSink implements SampleSink {

    private static final Logger LOG = LoggerFactory.getLogger(InfluxSink.class);

    // Short enough that a hung InfluxDB costs a few seconds of the writer's time, not of the sampler's.
    static final long CONNECT_TIMEOUT_MILLIS = 2_000;
    static final long READ_WRITE_TIMEOUT_MILLIS = 5_000;
    static final long FIRST_RETRY_DELAY_MILLIS = 250;
    static final long MAX_RETRY_DELAY_MILLIS = 4_000;
    static final long CLOSE_TIMEOUT_MILLIS = 5_000;
    // Samples waiting for the writer; only fills up if the disk is slower than the sampler.
    static final int QUEUE_CAPACITY = 100_000;
    static final long DROP_WARNING_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(10);

    private static final Pattern PARTIAL_WRITE_DROPPED = Pattern.compile("dropped=(\\d+)");

    private enum Outcome { WRITTEN, REJECTED, FAILED }

    private final InfluxConfig config;
    private final PointEncoder encoder;
    private final Spool spool;
    private final InfluxDB influx;
    private final BlockingQueue<Sample> queue = new ArrayBlockingQueue<>(QUEUE_CAPACITY);
    private final Thread writer;

    private final AtomicLong pointsWritten = new AtomicLong();
    private final AtomicLong pointsDropped = new AtomicLong();
    private volatile boolean reachable;
    private volatile String lastError;
    private volatile boolean closing;
    private volatile long closeDeadlineNanos = Long.MAX_VALUE;
    private long unreportedDrops;
    private long lastDropWarningNanos;

    // Touched by the writer thread only.
    private boolean databaseReady;
    private long retryDelayMillis = FIRST_RETRY_DELAY_MILLIS;
    private long nextAttemptNanos = System.nanoTime();

    /**
     * Opens the spool (taking up what a previous run left) and starts the writer. Does not contact
     * InfluxDB: it may well be down while the daemon starts.
     *
     * @throws UncheckedIOException where the spool directory cannot be created or read
     */
    public InfluxSink(InfluxConfig config) {
        this(config, localHostName());
    }

    public InfluxSink(InfluxConfig config, String host) {
        this.config = config;
        this.encoder = new PointEncoder(host, config.staticTags());
        try {
            this.spool = Spool.open(config.spoolDirectory(), config.spoolMaxBytes());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the InfluxDB spool directory " + config.spoolDirectory()
                    + " (set another one or make it writable): " + e.getMessage(), e);
        }
        if (!spool.isEmpty()) {
            LOG.info("InfluxDB spool {} holds {} points in {} batches from an earlier run; they will be written first",
                    spool.directory(), spool.points(), spool.batchCount());
        }
        OkHttpClient.Builder http = new OkHttpClient.Builder()
                .connectTimeout(CONNECT_TIMEOUT_MILLIS, TimeUnit.MILLISECONDS)
                .readTimeout(READ_WRITE_TIMEOUT_MILLIS, TimeUnit.MILLISECONDS)
                .writeTimeout(READ_WRITE_TIMEOUT_MILLIS, TimeUnit.MILLISECONDS)
                // Retries are this sink's business: the spool keeps their order.
                .retryOnConnectionFailure(false);
        this.influx = config.username() == null
                ? InfluxDBFactory.connect(config.url(), http)
                : InfluxDBFactory.connect(config.url(), config.username(), config.password(), http);
        this.writer = new Thread(this::writeLoop, "influx-writer");
        writer.setDaemon(true);
        writer.start();
    }

    /** Enqueues the samples and returns at once; a sample that does not fit in the queue is dropped and counted. */
    @Override
    public void accept(List<Sample> samples) {
        if (closing) {
            drop(samples.stream().mapToInt(PointEncoder::pointsOf).sum(), "the sink is closed");
            return;
        }
        for (Sample sample : samples) {
            if (!queue.offer(sample)) {
                drop(PointEncoder.pointsOf(sample), "the queue of " + QUEUE_CAPACITY
                        + " samples is full: the writer cannot keep up, is the spool directory "
                        + spool.directory() + " on a slow disk?");
            }
        }
        // Every sample makes at least two points.
        if (2L * queue.size() >= config.batchSize()) {
            LockSupport.unpark(writer);
        }
    }

    /** What has been written, what waits in the spool, what was lost, and the latest failure. */
    public InfluxSinkStatus status() {
        return new InfluxSinkStatus(config.url(), config.database(), reachable, pointsWritten.get(), spool.points(),
                spool.bytes(), pointsDropped.get(), lastError);
    }

    /**
     * Writes what is queued and what is spooled while InfluxDB answers, for {@value #CLOSE_TIMEOUT_MILLIS} ms
     * at most; whatever is left stays in the spool for the next run.
     */
    @Override
    public void close() {
        if (closing) {
            return;
        }
        closeDeadlineNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(CLOSE_TIMEOUT_MILLIS);
        closing = true;
        LockSupport.unpark(writer);
        try {
            writer.join(CLOSE_TIMEOUT_MILLIS + READ_WRITE_TIMEOUT_MILLIS + 1_000);
            if (writer.isAlive()) {
                // A write hangs past its timeout; interrupting it makes the writer spool the rest.
                writer.interrupt();
                writer.join(2_000);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            influx.close();
        }
        spoolLateArrivals();
        reportUnreportedDrops();
        if (!spool.isEmpty()) {
            LOG.info("InfluxDB sink closed with {} points left in the spool {}", spool.points(), spool.directory());
        }
    }

    // Samples an accept() racing with close() put on the queue after the writer's last look.
    private void spoolLateArrivals() {
        if (writer.isAlive() || queue.isEmpty()) {
            return;
        }
        List<Sample> late = new ArrayList<>();
        queue.drainTo(late);
        List<String> lines = new ArrayList<>();
        late.forEach(sample -> lines.addAll(encoder.encode(sample)));
        try {
            spool.append(lines).forEach(batch -> drop(batch.points(), "the spool " + spool.directory()
                    + " is over its bound of " + config.spoolMaxBytes() + " bytes"));
        } catch (IOException e) {
            drop(lines.size(), "cannot write to the spool " + spool.directory() + ": " + e);
        }
    }

    private void writeLoop() {
        List<String> pending = new ArrayList<>();
        long flushDueNanos = Long.MAX_VALUE;
        while (true) {
            boolean finishing = closing;
            long now = System.nanoTime();
            long wakeNanos = Math.min(flushDueNanos, spool.isEmpty() ? Long.MAX_VALUE : nextAttemptNanos);
            try {
                Sample sample;
                if (finishing || wakeNanos <= now) {
                    sample = queue.poll();
                } else if (pending.isEmpty()) {
                    sample = queue.poll(Math.min(wakeNanos - now, TimeUnit.MILLISECONDS.toNanos(100)), TimeUnit.NANOSECONDS);
                } else {
                    // A batch is being gathered: sleep until it is due rather than wake for every
                    // sample the sensors hand over (tens of times a second); accept() wakes the
                    // writer early when a batch is full, close() when the sink closes.
                    if (pending.size() + 2L * queue.size() < config.batchSize()) {
                        LockSupport.parkNanos(this, wakeNanos - now);
                    }
                    if (Thread.interrupted()) {
                        throw new InterruptedException();
                    }
                    sample = queue.poll();
                }
                // Bounded so that a busy queue still leaves room to replay the spool.
                for (int taken = 0; sample != null; sample = ++taken < config.batchSize() ? queue.poll() : null) {
                    if (pending.isEmpty()) {
                        flushDueNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(config.flushIntervalMillis());
                    }
                    pending.addAll(encoder.encode(sample));
                    if (pending.size() >= config.batchSize()) {
                        deliver(pending);
                        pending = new ArrayList<>();
                        flushDueNanos = Long.MAX_VALUE;
                    }
                }
            } catch (InterruptedException e) {
                finishing = true;
                closeDeadlineNanos = System.nanoTime();
            }
            if (!pending.isEmpty() && (finishing || System.nanoTime() >= flushDueNanos)) {
                deliver(pending);
                pending = new ArrayList<>();
                flushDueNanos = Long.MAX_VALUE;
            }
            boolean mayWrite = System.nanoTime() >= nextAttemptNanos && !pastCloseDeadline();
            if (!spool.isEmpty() && mayWrite) {
                replayOldest();
            }
            if (finishing && queue.isEmpty() && pending.isEmpty()
                    && (spool.isEmpty() || System.nanoTime() < nextAttemptNanos || pastCloseDeadline())) {
                return;
            }
        }
    }

    /** Writes a fresh batch, or spools it where earlier batches wait or InfluxDB just failed. */
    private void deliver(List<String> lines) {
        if (spool.isEmpty() && System.nanoTime() >= nextAttemptNanos && !pastCloseDeadline()) {
            if (write(lines) != Outcome.FAILED) {
                return;
            }
        }
        try {
            List<Spool.Batch> dropped = spool.append(lines);
            for (Spool.Batch batch : dropped) {
                drop(batch.points(), "the spool " + spool.directory() + " is over its bound of "
                        + config.spoolMaxBytes() + " bytes; dropped its oldest batch " + batch.file().getFileName());
            }
        } catch (IOException e) {
            drop(lines.size(), "cannot write to the spool " + spool.directory() + ": " + e);
        }
    }

    private void replayOldest() {
        Spool.Batch batch = spool.oldest();
        List<String> lines;
        try {
            lines = spool.read(batch);
        } catch (IOException e) {
            drop(batch.points(), "cannot read spooled batch " + batch.file() + ": " + e);
            removeFromSpool(batch);
            return;
        }
        if (write(lines) != Outcome.FAILED) {
            removeFromSpool(batch);
            if (spool.isEmpty()) {
                LOG.info("InfluxDB spool {} replayed completely", spool.directory());
            }
        }
    }

    private void removeFromSpool(Spool.Batch batch) {
        try {
            spool.remove(batch);
        } catch (IOException e) {
            // Left on disk it would be written again after a restart: harmless, InfluxDB overwrites
            // a point with the same series and timestamp.
            LOG.warn("cannot delete spooled batch {}: {}", batch.file(), e.toString());
        }
    }

    private Outcome write(List<String> lines) {
        try {
            ensureDatabase();
            influx.write(config.database(), config.retentionPolicy(), InfluxDB.ConsistencyLevel.ONE,
                    TimeUnit.NANOSECONDS, lines);
            pointsWritten.addAndGet(lines.size());
            answered();
            return Outcome.WRITTEN;
        } catch (InfluxDBException e) {
            if (e instanceof InfluxDBException.DatabaseNotFoundException) {
                // Dropped behind our back: create it again on the next attempt.
                databaseReady = false;
            } else if (rejectsThesePoints(e)) {
                answered();
                int dropped = droppedByPartialWrite(e, lines.size());
                pointsWritten.addAndGet(lines.size() - dropped);
                drop(dropped, "InfluxDB rejected them, so retrying cannot help: " + e.getMessage());
                return Outcome.REJECTED;
            }
            failed(e);
            return Outcome.FAILED;
        } catch (RuntimeException e) {
            failed(e);
            return Outcome.FAILED;
        }
    }

    private void ensureDatabase() {
        if (databaseReady) {
            return;
        }
        try {
            QueryResult result = influx.query(new Query("CREATE DATABASE " + quoteIdentifier(config.database()), null, true));
            if (result.hasError()) {
                throw new InfluxDBException(result.getError());
            }
        } catch (InfluxDBIOException e) {
            throw e;
        } catch (InfluxDBException e) {
            // InfluxDB answered but would not create it (no admin right, or a 2.x/3.x server that
            // maps databases to buckets): it may exist already, so the write is tried anyway.
            LOG.warn("could not create InfluxDB database {} at {} (writing anyway): {}",
                    config.database(), config.url(), e.getMessage());
        }
        databaseReady = true;
    }

    // Only errors about the points themselves: anything else (down, overloaded, bad credentials)
    // may pass, so those batches are kept.
    private static boolean rejectsThesePoints(InfluxDBException e) {
        return e instanceof InfluxDBException.UnableToParseException
                || e instanceof InfluxDBException.FieldTypeConflictException
                || e instanceof InfluxDBException.PointsBeyondRetentionPolicyException
                || String.valueOf(e.getMessage()).contains("partial write");
    }

    // InfluxDB writes the good points of a batch and says how many it dropped.
    private static int droppedByPartialWrite(InfluxDBException e, int points) {
        Matcher matcher = PARTIAL_WRITE_DROPPED.matcher(String.valueOf(e.getMessage()));
        return matcher.find() ? Math.min(points, Integer.parseInt(matcher.group(1))) : points;
    }

    private void answered() {
        if (!reachable) {
            LOG.info("InfluxDB at {} answers{}", config.url(),
                    spool.isEmpty() ? "" : "; replaying " + spool.points() + " spooled points");
        }
        reachable = true;
        retryDelayMillis = FIRST_RETRY_DELAY_MILLIS;
        nextAttemptNanos = System.nanoTime();
    }

    private void failed(RuntimeException e) {
        String message = e.getCause() != null && e instanceof InfluxDBIOException
                ? e.getCause().toString() : e.toString();
        if (reachable || lastError == null) {
            LOG.warn("cannot write to InfluxDB at {} (spooling to {} and retrying): {}",
                    config.url(), spool.directory(), message);
        }
        reachable = !(e instanceof InfluxDBIOException);
        lastError = message;
        nextAttemptNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(retryDelayMillis);
        retryDelayMillis = Math.min(retryDelayMillis * 2, MAX_RETRY_DELAY_MILLIS);
    }

    private void drop(long points, String why) {
        if (points <= 0) {
            return;
        }
        // The reason first: whoever sees the count go up finds the reason in place.
        lastError = "dropped " + points + " points: " + why;
        pointsDropped.addAndGet(points);
        long unreported;
        synchronized (this) {
            unreportedDrops += points;
            long now = System.nanoTime();
            // A full spool drops a batch at every flush; one WARN per interval says it all.
            if (lastDropWarningNanos != 0 && now - lastDropWarningNanos < DROP_WARNING_INTERVAL_NANOS && !closing) {
                return;
            }
            lastDropWarningNanos = now;
            unreported = unreportedDrops;
            unreportedDrops = 0;
        }
        LOG.warn("InfluxDB sink dropped {} points (total {}): {}", unreported, pointsDropped.get(), why);
    }

    private synchronized void reportUnreportedDrops() {
        if (unreportedDrops > 0) {
            LOG.warn("InfluxDB sink dropped {} more points (total {}); last reason: {}",
                    unreportedDrops, pointsDropped.get(), lastError);
            unreportedDrops = 0;
        }
    }

    private boolean pastCloseDeadline() {
        return closing && System.nanoTime() >= closeDeadlineNanos;
    }

    static String quoteIdentifier(String name) {
        return "\"" + name.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    private static String localHostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            String fromEnvironment = System.getenv("HOSTNAME");
            return fromEnvironment == null || fromEnvironment.isBlank() ? "unknown" : fromEnvironment;
        }
    }
}
