package io.wattlab.trainer.store;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.wattlab.proto.v1.Run;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Run records kept so that they outlive the service: one JSON file per run ({@code RUN_ID.json}, the
 * proto's JSON form, readable with {@code cat}), each replaced atomically so that a crash leaves
 * either the old record or the new one. A directory is held by one service at a time (a lock file).
 * An in-memory store keeps nothing, for the one-shot {@code trainer-service run}.
 */
public final class RunStore implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(RunStore.class);
    private static final String SUFFIX = ".json";
    /** Run ids become file names, so they are held to characters that are safe in one on every system. */
    private static final Pattern SAFE_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

    private final Path directory;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final Map<String, Run> runs = new HashMap<>();
    private final Map<String, Instant> written = new HashMap<>();
    private final List<String> unreadable = new ArrayList<>();

    private RunStore(Path directory, FileChannel lockChannel, FileLock lock) {
        this.directory = directory;
        this.lockChannel = lockChannel;
        this.lock = lock;
    }

    /** A store that forgets everything when the process ends. */
    public static RunStore inMemory() {
        return new RunStore(null, null, null);
    }

    /**
     * Opens (creating it if needed) a directory of run records and reads every record in it.
     * A file that cannot be read is left where it is, logged and listed by {@link #unreadable()}.
     *
     * @throws StoreException when the directory cannot be created, read or locked
     */
    public static RunStore open(Path directory) {
        try {
            Files.createDirectories(directory);
        } catch (IOException e) {
            throw new StoreException("runs directory " + directory + " cannot be created: " + e, e);
        }
        FileChannel channel;
        FileLock lock;
        try {
            channel = FileChannel.open(directory.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new StoreException("runs directory " + directory + " is not writable: " + e, e);
        }
        try {
            lock = channel.tryLock();
        } catch (IOException | OverlappingFileLockException e) {
            lock = null;
        }
        if (lock == null) {
            closeQuietly(channel);
            throw new StoreException("runs directory " + directory + " is in use by another trainer-service;"
                    + " stop it or choose another directory (wattlab.trainer.runs-dir)", null);
        }
        RunStore store = new RunStore(directory, channel, lock);
        store.load();
        return store;
    }

    private void load() {
        try (DirectoryStream<Path> files = Files.newDirectoryStream(directory, "*" + SUFFIX)) {
            for (Path file : files) {
                try {
                    Run run = parse(Files.readString(file, StandardCharsets.UTF_8));
                    if (!(run.getRunId() + SUFFIX).equals(file.getFileName().toString())) {
                        throw new IOException("its run_id '" + run.getRunId() + "' does not match the file name");
                    }
                    runs.put(run.getRunId(), run);
                    written.put(run.getRunId(), Files.getLastModifiedTime(file).toInstant());
                } catch (IOException | RuntimeException e) {
                    LOG.warn("run record {} is skipped: {}", file, e.getMessage());
                    unreadable.add(file + ": " + e.getMessage());
                }
            }
        } catch (IOException e) {
            throw new StoreException("runs directory " + directory + " cannot be read: " + e, e);
        }
    }

    /** The directory records are written to; empty for an in-memory store. */
    public Optional<Path> directory() {
        return Optional.ofNullable(directory);
    }

    public static boolean isSafeId(String runId) {
        return SAFE_ID.matcher(runId).matches();
    }

    /**
     * Records {@code run}, replacing any earlier record of the same id.
     *
     * @throws StoreException when the file cannot be written; the record is then not kept
     */
    public synchronized void put(Run run) {
        if (!isSafeId(run.getRunId())) {
            throw new IllegalArgumentException("run id '" + run.getRunId() + "' is not safe as a file name");
        }
        if (directory != null) {
            write(run);
        }
        runs.put(run.getRunId(), run);
        written.put(run.getRunId(), Instant.now());
    }

    private void write(Run run) {
        Path target = directory.resolve(run.getRunId() + SUFFIX);
        Path temporary = directory.resolve("." + run.getRunId() + SUFFIX + ".tmp");
        try {
            byte[] json = JsonFormat.printer().print(run).getBytes(StandardCharsets.UTF_8);
            try (FileChannel out = FileChannel.open(temporary, StandardOpenOption.CREATE,
                    StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
                ByteBuffer buffer = ByteBuffer.wrap(json);
                while (buffer.hasRemaining()) {
                    out.write(buffer);
                }
                // Without this the rename can reach the disk before the data, leaving an empty record after a power cut.
                out.force(true);
            }
            try {
                Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temporary, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new StoreException("run " + run.getRunId() + " cannot be recorded in " + target + ": " + e, e);
        }
    }

    public synchronized Optional<Run> get(String runId) {
        return Optional.ofNullable(runs.get(runId));
    }

    /** Every record, in no particular order. */
    public synchronized List<Run> all() {
        return List.copyOf(runs.values());
    }

    /** When the record was last written: by this process, or the file's time for one found at start. */
    public synchronized Optional<Instant> lastWritten(String runId) {
        return Optional.ofNullable(written.get(runId));
    }

    /** Files found at start that hold no readable run record, each with the reason. */
    public synchronized List<String> unreadable() {
        return List.copyOf(unreadable);
    }

    @Override
    public synchronized void close() {
        if (lock != null) {
            try {
                lock.release();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } finally {
                closeQuietly(lockChannel);
            }
        }
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException e) {
            LOG.debug("closing {}: {}", channel, e.toString());
        }
    }

    /** Parses one record as {@link #open} does; for tools and tests that read a record file. */
    public static Run parse(String json) throws InvalidProtocolBufferException {
        Run.Builder run = Run.newBuilder();
        JsonFormat.parser().ignoringUnknownFields().merge(json, run);
        return run.build();
    }
}
