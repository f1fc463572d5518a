package io.wattlab.trainer.data;

import io.wattlab.trainer.data.cifar.CifarLoader;
import io.wattlab.trainer.data.folder.ImageFolderLoader;
import io.wattlab.trainer.data.idx.IdxLoader;
import io.wattlab.trainer.data.medmnist.MedMnistLoader;
import io.wattlab.trainer.data.synthetic.SyntheticImages;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Opens a dataset from a {@link DatasetSpec} by format name. Formats and their options:
 * <ul>
 * <li>{@code cifar10}: the {@code cifar-10-batches-bin} directory.</li>
 * <li>{@code cifar100}: the {@code cifar-100-binary} directory; {@code labels=fine} (default, 100
 *     classes) or {@code coarse} (20 superclasses).</li>
 * <li>{@code mnist}, {@code fashion-mnist}: the directory of the four IDX files, gzipped or not.</li>
 * <li>{@code medmnist}: the {@code .npz} file; {@code classes=N} when a split lacks the top label.</li>
 * <li>{@code imagefolder}: the root of class directories; {@code size=HxW} (default: the first
 *     image's), {@code channels=1|3} (default 3), {@code heldOutFraction} (default 0.2, used without a
 *     test directory), {@code seed} (default 0), {@code threads}.</li>
 * <li>{@code synthetic}: no path; {@code classes} (10), {@code size} (32x32), {@code channels} (3),
 *     {@code train} (1000), {@code test} (200), {@code difficulty=easy|medium|hard}, {@code seed} (0).</li>
 * </ul>
 */
public final class Datasets {

    /** The format names {@link #open} takes. */
    public static final List<String> FORMATS = List.of(
            "cifar10", "cifar100", "mnist", "fashion-mnist", "medmnist", "imagefolder", "synthetic");

    private Datasets() {
    }

    /**
     * @throws MissingDatasetFileException where the path or a file the format needs is missing
     * @throws DatasetException            for an unknown format or option, a bad option value, or
     *                                     files that are not in the format
     */
    public static Dataset open(DatasetSpec spec) throws DatasetException {
        Options options = new Options(spec);
        String format = canonical(spec.format());
        if (!format.equals("synthetic")) {
            if (spec.path() == null) {
                throw new DatasetException("format " + format + " needs a path to the dataset's files");
            }
            if (!Files.exists(spec.path())) {
                throw new MissingDatasetFileException(format + " dataset path " + spec.path() + " does not exist");
            }
        }
        return switch (format) {
            case "cifar10" -> {
                options.allowOnly();
                yield CifarLoader.openCifar10(spec.path());
            }
            case "cifar100" -> {
                options.allowOnly("labels");
                yield CifarLoader.openCifar100(spec.path(), options.choice("labels", CifarLoader.Labels.FINE));
            }
            case "mnist" -> {
                options.allowOnly();
                yield IdxLoader.open(spec.path(), "mnist", IdxLoader.MNIST_CLASSES);
            }
            case "fashion-mnist" -> {
                options.allowOnly();
                yield IdxLoader.open(spec.path(), "fashion-mnist", IdxLoader.FASHION_MNIST_CLASSES);
            }
            case "medmnist" -> {
                options.allowOnly("classes");
                yield MedMnistLoader.open(spec.path(), options.integer("classes", 0, 0));
            }
            case "imagefolder" -> {
                options.allowOnly("size", "channels", "heldOutFraction", "seed", "threads");
                ImageFolderLoader.Options defaults = ImageFolderLoader.Options.defaults();
                int[] size = options.size("size", new int[] {0, 0});
                yield ImageFolderLoader.open(spec.path(), options.build(() -> new ImageFolderLoader.Options(
                        size[0], size[1], options.integer("channels", defaults.channels(), 1),
                        options.fraction("heldOutFraction", defaults.heldOutFraction()),
                        options.longValue("seed", defaults.seed()),
                        options.integer("threads", defaults.threads(), 1))));
            }
            case "synthetic" -> {
                options.allowOnly("classes", "size", "channels", "train", "test", "difficulty", "seed");
                SyntheticImages.Config defaults = SyntheticImages.Config.defaults();
                int[] size = options.size("size", new int[] {defaults.shape().height(), defaults.shape().width()});
                int channels = options.integer("channels", defaults.shape().channels(), 1);
                yield SyntheticImages.generate(options.build(() -> new SyntheticImages.Config(
                        options.integer("classes", defaults.classes(), 2),
                        new ImageShape(channels, size[0], size[1]),
                        options.integer("train", defaults.trainCount(), 1),
                        options.integer("test", defaults.testCount(), 1),
                        options.choice("difficulty", defaults.difficulty()),
                        options.longValue("seed", defaults.seed()))));
            }
            default -> throw new DatasetException("unknown dataset format '" + spec.format() + "' (known: "
                    + String.join(", ", FORMATS) + ")");
        };
    }

    private static String canonical(String format) {
        return switch (format.replace('_', '-')) {
            case "cifar-10" -> "cifar10";
            case "cifar-100" -> "cifar100";
            case "fashionmnist", "fmnist" -> "fashion-mnist";
            case "npz" -> "medmnist";
            case "image-folder", "folder" -> "imagefolder";
            default -> format.replace('_', '-');
        };
    }

    /** Typed reads of a spec's string options, each error naming the option and the value. */
    private static final class Options {

        private final String format;
        private final Map<String, String> values;

        Options(DatasetSpec spec) {
            this.format = spec.format();
            this.values = spec.options();
        }

        void allowOnly(String... known) throws DatasetException {
            Set<String> allowed = Set.of(known);
            List<String> unknown = new ArrayList<>();
            for (String key : new TreeSet<>(values.keySet())) {
                if (!allowed.contains(key)) {
                    unknown.add(key);
                }
            }
            if (!unknown.isEmpty()) {
                throw new DatasetException("format " + format + " has no option " + String.join(", ", unknown)
                        + (known.length == 0 ? " (it takes none)" : " (options: " + String.join(", ", known) + ")"));
            }
        }

        int integer(String key, int fallback, int min) throws DatasetException {
            long value = longValue(key, fallback);
            if (value < min || value > Integer.MAX_VALUE) {
                throw invalid(key, "an integer of at least " + min);
            }
            return (int) value;
        }

        long longValue(String key, long fallback) throws DatasetException {
            String text = values.get(key);
            if (text == null) {
                return fallback;
            }
            try {
                return Long.parseLong(text.strip());
            } catch (NumberFormatException e) {
                throw invalid(key, "an integer");
            }
        }

        double fraction(String key, double fallback) throws DatasetException {
            String text = values.get(key);
            if (text == null) {
                return fallback;
            }
            try {
                double value = Double.parseDouble(text.strip());
                if (value > 0 && value < 1) {
                    return value;
                }
            } catch (NumberFormatException e) {
                // reported below
            }
            throw invalid(key, "a number between 0 and 1, such as 0.2");
        }

        /** {@code HxW}, or one number for a square. */
        int[] size(String key, int[] fallback) throws DatasetException {
            String text = values.get(key);
            if (text == null) {
                return fallback;
            }
            String[] parts = text.strip().toLowerCase(Locale.ROOT).split("[x×]");
            try {
                int height = Integer.parseInt(parts[0].strip());
                int width = parts.length == 1 ? height : Integer.parseInt(parts[1].strip());
                if (parts.length <= 2 && height > 0 && width > 0) {
                    return new int[] {height, width};
                }
            } catch (NumberFormatException e) {
                // reported below
            }
            throw invalid(key, "a size such as 224x224 or 64");
        }

        <E extends Enum<E>> E choice(String key, E fallback) throws DatasetException {
            String text = values.get(key);
            if (text == null) {
                return fallback;
            }
            for (E constant : fallback.getDeclaringClass().getEnumConstants()) {
                if (constant.name().equalsIgnoreCase(text.strip())) {
                    return constant;
                }
            }
            List<String> names = new ArrayList<>();
            for (E constant : fallback.getDeclaringClass().getEnumConstants()) {
                names.add(constant.name().toLowerCase(Locale.ROOT));
            }
            throw invalid(key, "one of " + String.join(", ", names));
        }

        /** Runs a record constructor, turning its validation error into one that names the format. */
        <T> T build(CheckedSupplier<T> constructor) throws DatasetException {
            try {
                return constructor.get();
            } catch (IllegalArgumentException e) {
                throw new DatasetException("format " + format + ": " + e.getMessage(), e);
            }
        }

        private DatasetException invalid(String key, String expected) {
            return new DatasetException("format " + format + ": option " + key + "=" + values.get(key)
                    + " is not valid; expected " + expected);
        }
    }

    @FunctionalInterface
    private interface CheckedSupplier<T> {
        T get() throws DatasetException;
    }
}
