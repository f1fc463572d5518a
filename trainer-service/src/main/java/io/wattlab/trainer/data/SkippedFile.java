package io.wattlab.trainer.data;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A file a loader left out of the dataset, and why (for example an image that would not decode).
 *
 * @param path   the file
 * @param reason what was wrong with it, as the decoder put it
 */
public record SkippedFile(Path path, String reason) {

    public SkippedFile {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(reason, "reason");
    }

    @Override
    public String toString() {
        return path + ": " + reason;
    }
}
