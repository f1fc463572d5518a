package io.wattlab.meter.sink.influx;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Batches of line protocol that could not be written yet, one file per batch, on disk so that they
 * survive a restart of the daemon. Files are named by a sequence number that only grows, so the
 * oldest batch is always the one with the smallest name. The total size is bounded: appending past
 * the bound drops the oldest batches and says how many points went with them.
 *
 * <p>Used by one thread at a time (the sink's writer); the sizes are also read by status callers.
 */
final class Spool {

    /** One spooled batch. */
    record Batch(long sequence, Path file, long bytes, int points) {
    }

    private static final String SUFFIX = ".lp";
    private static final String PARTIAL_SUFFIX = ".lp.partial";
    private static final Pattern NAME = Pattern.compile("(\\d{1,19})\\.lp");

    private final Path directory;
    private final long maxBytes;
    private final ArrayDeque<Batch> batches = new ArrayDeque<>();
    private long nextSequence;
    private long bytes;
    private long points;

    private Spool(Path directory, long maxBytes) {
        this.directory = directory;
        this.maxBytes = maxBytes;
    }

    /**
     * Opens the spool in {@code directory}, creating it if needed and taking up the batches a
     * previous run left there, oldest first.
     */
    static Spool open(Path directory, long maxBytes) throws IOException {
        Files.createDirectories(directory);
        Spool spool = new Spool(directory, maxBytes);
        List<Batch> found = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(directory)) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                if (name.endsWith(PARTIAL_SUFFIX)) {
                    // A write that a crash interrupted: it was never counted as spooled, and its
                    // points are incomplete, so it is not replayed.
                    Files.deleteIfExists(file);
                    continue;
                }
                Matcher matcher = NAME.matcher(name);
                if (matcher.matches()) {
                    found.add(new Batch(Long.parseLong(matcher.group(1)), file, Files.size(file),
                            readLines(file).size()));
                }
            }
        }
        found.sort(Comparator.comparingLong(Batch::sequence));
        for (Batch batch : found) {
            spool.add(batch);
        }
        spool.nextSequence = found.isEmpty() ? 1 : found.get(found.size() - 1).sequence() + 1;
        return spool;
    }

    Path directory() {
        return directory;
    }

    synchronized boolean isEmpty() {
        return batches.isEmpty();
    }

    synchronized long bytes() {
        return bytes;
    }

    synchronized long points() {
        return points;
    }

    synchronized int batchCount() {
        return batches.size();
    }

    /** The oldest batch, or null when the spool is empty. */
    synchronized Batch oldest() {
        return batches.peekFirst();
    }

    /**
     * Writes {@code lines} as the newest batch, then drops the oldest batches while the spool is
     * larger than its bound.
     *
     * @return the batches dropped to stay within the bound, oldest first (possibly this one)
     */
    List<Batch> append(List<String> lines) throws IOException {
        if (lines.isEmpty()) {
            return List.of();
        }
        long sequence;
        synchronized (this) {
            sequence = nextSequence++;
        }
        Path file = directory.resolve(String.format("%019d%s", sequence, SUFFIX));
        Path partial = directory.resolve(file.getFileName() + ".partial");
        StringBuilder text = new StringBuilder();
        for (String line : lines) {
            text.append(line).append('\n');
        }
        Files.writeString(partial, text, StandardCharsets.UTF_8);
        // The rename makes a batch appear whole or not at all, even if the daemon dies mid-write.
        Files.move(partial, file, StandardCopyOption.ATOMIC_MOVE);
        add(new Batch(sequence, file, Files.size(file), lines.size()));

        List<Batch> dropped = new ArrayList<>();
        while (bytes() > maxBytes) {
            Batch oldest = oldest();
            remove(oldest);
            dropped.add(oldest);
        }
        return dropped;
    }

    /** The points of a batch, one line each. */
    List<String> read(Batch batch) throws IOException {
        return readLines(batch.file());
    }

    /** Deletes a batch: after it was written, or to make room. */
    void remove(Batch batch) throws IOException {
        synchronized (this) {
            if (!batches.remove(batch)) {
                return;
            }
            bytes -= batch.bytes();
            points -= batch.points();
        }
        Files.deleteIfExists(batch.file());
    }

    private synchronized void add(Batch batch) {
        batches.addLast(batch);
        bytes += batch.bytes();
        points += batch.points();
    }

    private static List<String> readLines(Path file) throws IOException {
        List<String> lines = new ArrayList<>();
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            if (!line.isBlank()) {
                lines.add(line);
            }
        }
        return lines;
    }
}
