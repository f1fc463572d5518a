package io.wattlab.trainer.data;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Names a dataset to open: its format, where its files are, and format options as strings (as they
 * come from a request or a config file). {@link Datasets#open} lists the formats and their options.
 *
 * @param format  such as {@code cifar10}, {@code mnist}, {@code medmnist}, {@code imagefolder}, {@code synthetic}
 * @param path    the dataset's directory or file; may be null for {@code synthetic}
 * @param options format options by name, such as {@code labels=coarse} for CIFAR-100
 */
public record DatasetSpec(String format, Path path, Map<String, String> options) {

    public DatasetSpec {
        Objects.requireNonNull(format, "format");
        format = format.strip().toLowerCase(Locale.ROOT);
        options = Map.copyOf(options);
    }

    public static DatasetSpec of(String format, Path path) {
        return new DatasetSpec(format, path, Map.of());
    }

    /** This spec with one more option. */
    public DatasetSpec with(String option, String value) {
        Map<String, String> more = new java.util.HashMap<>(options);
        more.put(option, value);
        return new DatasetSpec(format, path, more);
    }
}
