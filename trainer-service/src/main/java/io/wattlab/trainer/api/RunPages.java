package io.wattlab.trainer.api;

import io.wattlab.proto.v1.ListRunsRequest;
import io.wattlab.proto.v1.ListRunsResponse;
import io.wattlab.proto.v1.Run;
import io.wattlab.proto.v1.RunState;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One page of {@code ListRuns}: runs filtered by state and labels, newest first. The page token is
 * the position of the last run returned (its creation time and id), so that runs queued between two
 * calls neither repeat nor shift a page.
 */
final class RunPages {

    static final int DEFAULT_PAGE_SIZE = 50;
    static final int MAX_PAGE_SIZE = 500;

    static final Comparator<Run> NEWEST_FIRST = Comparator
            .comparing((Run r) -> r.getCreated().getSeconds())
            .thenComparing(r -> r.getCreated().getNanos())
            .thenComparing(Run::getRunId)
            .reversed();

    private RunPages() {
    }

    /** @throws IllegalArgumentException naming the request field that is wrong */
    static ListRunsResponse page(List<Run> runs, ListRunsRequest request) {
        if (request.getPageSize() < 0) {
            throw new IllegalArgumentException("page_size: " + request.getPageSize() + " is negative");
        }
        int size = request.getPageSize() == 0 ? DEFAULT_PAGE_SIZE : Math.min(request.getPageSize(), MAX_PAGE_SIZE);
        Run after = request.getPageToken().isEmpty() ? null : decode(request.getPageToken());
        Set<RunState> states = Set.copyOf(request.getStatesList());

        List<Run> matching = runs.stream()
                .filter(r -> states.isEmpty() || states.contains(r.getState()))
                .filter(r -> hasLabels(r, request.getLabelsMap()))
                .filter(r -> after == null || NEWEST_FIRST.compare(r, after) > 0)
                .sorted(NEWEST_FIRST)
                .toList();
        ListRunsResponse.Builder response = ListRunsResponse.newBuilder()
                .addAllRuns(matching.subList(0, Math.min(size, matching.size())));
        if (matching.size() > size) {
            response.setNextPageToken(encode(matching.get(size - 1)));
        }
        return response.build();
    }

    private static boolean hasLabels(Run run, Map<String, String> wanted) {
        Map<String, String> labels = run.getSpec().getLabelsMap();
        return wanted.entrySet().stream().allMatch(w -> w.getValue().equals(labels.get(w.getKey())));
    }

    private static String encode(Run last) {
        String position = "v1/" + last.getCreated().getSeconds() + "/" + last.getCreated().getNanos() + "/" + last.getRunId();
        return Base64.getUrlEncoder().withoutPadding().encodeToString(position.getBytes(StandardCharsets.UTF_8));
    }

    /** The position a token stands for, as a run with only the fields the order looks at. */
    private static Run decode(String token) {
        try {
            String[] parts = new String(Base64.getUrlDecoder().decode(token), StandardCharsets.UTF_8).split("/", 4);
            if (parts.length == 4 && parts[0].equals("v1") && !parts[3].isEmpty()) {
                return Run.newBuilder()
                        .setCreated(com.google.protobuf.Timestamp.newBuilder()
                                .setSeconds(Long.parseLong(parts[1])).setNanos(Integer.parseInt(parts[2])))
                        .setRunId(parts[3])
                        .build();
            }
        } catch (IllegalArgumentException e) {
            // reported below; NumberFormatException is one of these too
        }
        throw new IllegalArgumentException("page_token: '" + token + "' is not a token from ListRuns"
                + " (pass next_page_token unchanged, or nothing for the first page)");
    }
}
