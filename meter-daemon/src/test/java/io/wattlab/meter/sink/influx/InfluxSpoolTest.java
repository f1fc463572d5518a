package io.wattlab.meter.sink.influx;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InfluxSpoolTest {

    @TempDir
    Path directory;

    @Test
    void givesBatchesBackOldestFirstAlsoAfterReopening() throws IOException {
        Spool spool = Spool.open(directory, 1_000_000);
        spool.append(List.of("a 1", "a 2"));
        spool.append(List.of("b 1"));

        Spool reopened = Spool.open(directory, 1_000_000);
        reopened.append(List.of("c 1"));
        assertEquals(4, reopened.points());
        assertEquals(3, reopened.batchCount());

        assertEquals(List.of("a 1", "a 2"), reopened.read(reopened.oldest()));
        reopened.remove(reopened.oldest());
        assertEquals(List.of("b 1"), reopened.read(reopened.oldest()));
        reopened.remove(reopened.oldest());
        assertEquals(List.of("c 1"), reopened.read(reopened.oldest()));
        reopened.remove(reopened.oldest());
        assertTrue(reopened.isEmpty());
        assertNull(reopened.oldest());
        assertEquals(0, reopened.bytes());
        try (var files = Files.list(directory)) {
            assertEquals(0, files.count(), "a written batch leaves no file behind");
        }
    }

    @Test
    void ordersBySequenceNumberNotByNameLength() throws IOException {
        Spool spool = Spool.open(directory, 1_000_000);
        for (int i = 1; i <= 12; i++) {
            spool.append(List.of("p " + i));
        }
        for (int i = 1; i <= 12; i++) {
            Spool.Batch oldest = spool.oldest();
            assertEquals(List.of("p " + i), spool.read(oldest));
            spool.remove(oldest);
        }
    }

    @Test
    void dropsTheOldestBatchesBeyondItsBound() throws IOException {
        String line = "power,domain=gpu watts=100.0 1700000000000000000";
        long batchBytes = line.length() + 1;
        Spool spool = Spool.open(directory, 3 * batchBytes);
        assertTrue(spool.append(List.of(line)).isEmpty());
        assertTrue(spool.append(List.of(line)).isEmpty());
        assertTrue(spool.append(List.of(line)).isEmpty());
        assertEquals(3 * batchBytes, spool.bytes());

        List<Spool.Batch> dropped = spool.append(List.of(line, line));
        assertEquals(List.of(1L, 2L), dropped.stream().map(Spool.Batch::sequence).toList());
        assertEquals(3, spool.points());
        assertEquals(3 * batchBytes, spool.bytes());
        assertEquals(3L, spool.oldest().sequence());
    }

    @Test
    void ignoresABatchWhoseWriteWasInterrupted() throws IOException {
        Spool spool = Spool.open(directory, 1_000_000);
        spool.append(List.of("a 1"));
        Files.writeString(directory.resolve("0000000000000000002.lp.partial"), "b 1\nb 2");

        Spool reopened = Spool.open(directory, 1_000_000);
        assertEquals(1, reopened.batchCount());
        assertFalse(Files.exists(directory.resolve("0000000000000000002.lp.partial")));
        reopened.append(List.of("c 1"));
        reopened.remove(reopened.oldest());
        assertEquals(List.of("c 1"), reopened.read(reopened.oldest()));
    }
}
