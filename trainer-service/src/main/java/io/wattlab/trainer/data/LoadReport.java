package io.wattlab.trainer.data;

import java.util.List;

/**
 * What happened while a dataset was loaded that its user should know: files skipped and why, and
 * choices the loader made on its own (such as holding out part of the training images for testing).
 *
 * @param skipped files left out, in the order they were found
 * @param notes   one sentence per choice made
 */
public record LoadReport(List<SkippedFile> skipped, List<String> notes) {

    public LoadReport {
        skipped = List.copyOf(skipped);
        notes = List.copyOf(notes);
    }

    public static LoadReport empty() {
        return new LoadReport(List.of(), List.of());
    }

    public static LoadReport ofNotes(String... notes) {
        return new LoadReport(List.of(), List.of(notes));
    }
}
