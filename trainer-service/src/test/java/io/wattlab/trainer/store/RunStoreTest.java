package io.wattlab.trainer.store;

import com.google.protobuf.Timestamp;
import io.wattlab.proto.v1.EpochReport;
import io.wattlab.proto.v1.Run;
import io.wattlab.proto.v1.RunReport;
import io.wattlab.proto.v1.RunState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RunStoreTest {

    @TempDir
    Path dir;

    static Run run(String id, RunState state) {
        return Run.newBuilder().setRunId(id).setState(state)
                .setCreated(Timestamp.newBuilder().setSeconds(1_700_000_000))
                .setReport(RunReport.newBuilder().addEpochs(EpochReport.newBuilder().setEpoch(1).setTop1(0.5)))
                .build();
    }

    private List<String> files() throws Exception {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aRecordIsOneJsonFileThatANewStoreReadsBack() throws Exception {
        Run running = run("r1", RunState.RUN_STATE_RUNNING);
        try (RunStore store = RunStore.open(dir)) {
            store.put(running);
            store.put(running.toBuilder().setPhase("train").setEpoch(2).build());
            assertEquals(List.of(".lock", "r1.json"), files(), "one file per run, no temporary file left behind");
        }
        String json = Files.readString(dir.resolve("r1.json"));
        assertTrue(json.contains("\"runId\": \"r1\"") && json.contains("\"state\": \"RUN_STATE_RUNNING\""), json);

        Instant modified = Instant.parse("2025-03-04T05:06:07Z");
        Files.setLastModifiedTime(dir.resolve("r1.json"), FileTime.from(modified));
        try (RunStore reopened = RunStore.open(dir)) {
            assertEquals(running.toBuilder().setPhase("train").setEpoch(2).build(), reopened.get("r1").orElseThrow());
            assertEquals(modified, reopened.lastWritten("r1").orElseThrow());
            assertEquals(1, reopened.all().size());
        }
    }

    @Test
    void aFileThatHoldsNoRecordIsSkippedAndReported() throws Exception {
        Files.writeString(dir.resolve("broken.json"), "{\"runId\": ");
        Files.writeString(dir.resolve("renamed.json"), "{\"runId\": \"other\"}");
        Files.writeString(dir.resolve(".r9.json.tmp"), "{\"runId\": \"r9\"}");
        try (RunStore store = RunStore.open(dir)) {
            store.put(run("r2", RunState.RUN_STATE_SUCCEEDED));
            assertEquals(List.of("r2"), store.all().stream().map(Run::getRunId).toList());
            List<String> unreadable = store.unreadable();
            assertEquals(2, unreadable.size(), unreadable.toString());
            assertTrue(unreadable.stream().anyMatch(u -> u.startsWith(dir.resolve("broken.json") + ": ")), unreadable.toString());
            assertTrue(unreadable.stream().anyMatch(u -> u.contains("run_id 'other' does not match the file name")),
                    unreadable.toString());
        }
        assertTrue(Files.exists(dir.resolve("broken.json")), "a file the store cannot read is left for a person to look at");
    }

    @Test
    void aDirectoryServesOneStoreAtATime() {
        try (RunStore first = RunStore.open(dir)) {
            StoreException e = assertThrows(StoreException.class, () -> RunStore.open(dir));
            assertEquals("runs directory " + dir + " is in use by another trainer-service; stop it or choose another"
                    + " directory (wattlab.trainer.runs-dir)", e.getMessage());
        }
        RunStore.open(dir).close();
    }

    @Test
    void aDirectoryThatCannotBeMadeIsNamed() throws Exception {
        Path file = Files.writeString(dir.resolve("a-file"), "");
        StoreException e = assertThrows(StoreException.class, () -> RunStore.open(file.resolve("runs")));
        assertTrue(e.getMessage().startsWith("runs directory " + file.resolve("runs") + " cannot be created"), e.getMessage());
    }

    @Test
    void runIdsMustBeSafeFileNames() {
        try (RunStore store = RunStore.open(dir)) {
            assertThrows(IllegalArgumentException.class, () -> store.put(run("../escape", RunState.RUN_STATE_QUEUED)));
            assertThrows(IllegalArgumentException.class, () -> store.put(run("", RunState.RUN_STATE_QUEUED)));
        }
    }

    @Test
    void anInMemoryStoreKeepsRecordsOnlyForItsLifetime() {
        RunStore store = RunStore.inMemory();
        store.put(run("m1", RunState.RUN_STATE_QUEUED));
        assertEquals(RunState.RUN_STATE_QUEUED, store.get("m1").orElseThrow().getState());
        assertTrue(store.directory().isEmpty());
        store.close();
    }
}
