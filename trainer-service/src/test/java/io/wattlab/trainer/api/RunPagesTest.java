package io.wattlab.trainer.api;

import com.google.protobuf.Timestamp;
import io.wattlab.proto.v1.ListRunsRequest;
import io.wattlab.proto.v1.ListRunsResponse;
import io.wattlab.proto.v1.Run;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class RunPagesTest {

    /** Runs r000 .. r(n-1), one second apart, in shuffled order. */
    static List<Run> runs(int n) {
        List<Run> runs = new ArrayList<>(IntStream.range(0, n).mapToObj(i -> Run.newBuilder()
                .setRunId(String.format("r%03d", i))
                .setCreated(Timestamp.newBuilder().setSeconds(1_700_000_000L + i))
                .build()).toList());
        Collections.shuffle(runs, new java.util.Random(7));
        return runs;
    }

    @Test
    void pagesHoldFiftyByDefaultAndFiveHundredAtMost() {
        List<Run> runs = runs(600);
        ListRunsResponse first = RunPages.page(runs, ListRunsRequest.getDefaultInstance());
        assertEquals(50, first.getRunsCount());
        assertEquals("r599", first.getRuns(0).getRunId(), "newest first");
        assertEquals(500, RunPages.page(runs, ListRunsRequest.newBuilder().setPageSize(10_000).build()).getRunsCount());
    }

    @Test
    void aRunQueuedBetweenTwoPagesNeitherRepeatsNorShiftsTheNextPage() {
        List<Run> runs = new ArrayList<>(runs(5));
        ListRunsResponse first = RunPages.page(runs, ListRunsRequest.newBuilder().setPageSize(2).build());
        assertEquals(List.of("r004", "r003"), first.getRunsList().stream().map(Run::getRunId).toList());
        runs.add(Run.newBuilder().setRunId("r005").setCreated(Timestamp.newBuilder().setSeconds(1_800_000_000L)).build());
        ListRunsResponse second = RunPages.page(runs, ListRunsRequest.newBuilder().setPageSize(2)
                .setPageToken(first.getNextPageToken()).build());
        assertEquals(List.of("r002", "r001"), second.getRunsList().stream().map(Run::getRunId).toList());
        ListRunsResponse last = RunPages.page(runs, ListRunsRequest.newBuilder().setPageSize(2)
                .setPageToken(second.getNextPageToken()).build());
        assertEquals(List.of("r000"), last.getRunsList().stream().map(Run::getRunId).toList());
        assertEquals("", last.getNextPageToken());
    }

    @Test
    void aTokenThatIsNotOneIsRefused() {
        for (String token : List.of("not base64!", "djEvMTIz", java.util.Base64.getUrlEncoder().encodeToString("v1/x/0/r1".getBytes()))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> RunPages.page(runs(3), ListRunsRequest.newBuilder().setPageToken(token).build()));
            assertEquals("page_token: '" + token + "' is not a token from ListRuns (pass next_page_token unchanged,"
                    + " or nothing for the first page)", e.getMessage());
        }
    }
}
