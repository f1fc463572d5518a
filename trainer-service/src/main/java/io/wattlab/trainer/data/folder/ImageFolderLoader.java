package io.wattlab.trainer.data.folder;

import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetException;
import io.wattlab.trainer.data.DatasetFiles;
import io.wattlab.trainer.data.HeldOut;
import io.wattlab.trainer.data.ImageSet;
import io.wattlab.trainer.data.ImageShape;
import io.wattlab.trainer.data.LoadReport;
import io.wattlab.trainer.data.SkippedFile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

/**
 * Reads a tree of PNG and JPEG images laid out one directory per class ({@code root/cat/1.png}),
 * classes sorted by directory name. Where the root holds {@code Training/} and {@code Testing/} (or
 * {@code train/} and {@code test/}), as the Brain Tumor MRI set does, those are the splits; else
 * the classes sit in the root and a seeded share of each is held out for testing.
 *
 * <p>Every image is decoded once, converted to the configured channels and resized (bilinear) to
 * the configured size, and kept as bytes. An image that does not decode is left out and listed in
 * the {@link LoadReport}; it never fails the load.
 */
public final class ImageFolderLoader {

    private static final List<String> TRAIN_DIRS = List.of("training", "train");
    private static final List<String> TEST_DIRS = List.of("testing", "test");
    private static final List<String> EXTENSIONS = List.of(".png", ".jpg", ".jpeg");

    private ImageFolderLoader() {
    }

    /**
     * How to read the tree.
     *
     * @param height          rows of every image after loading; 0 to take the first readable image's
     * @param width           columns likewise; 0 together with height
     * @param channels        1 (grayscale by BT.601 luma) or 3 (RGB)
     * @param heldOutFraction share of each class held out for testing when there is no test directory
     * @param seed            fixes which images are held out
     * @param threads         images decoded at once
     */
    public record Options(int height, int width, int channels, double heldOutFraction, long seed, int threads) {

        public Options {
            if (height < 0 || width < 0 || (height == 0) != (width == 0)) {
                throw new IllegalArgumentException("image size must be both positive or both 0 (automatic), got "
                        + height + "×" + width);
            }
            if (channels != 1 && channels != 3) {
                throw new IllegalArgumentException("channels must be 1 or 3, got " + channels);
            }
            if (threads <= 0) {
                throw new IllegalArgumentException("threads must be positive, got " + threads);
            }
        }

        /** Automatic size, RGB, 20% held out with seed 0, up to four decoding threads. */
        public static Options defaults() {
            return new Options(0, 0, 3, HeldOut.DEFAULT_FRACTION, 0,
                    Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors())));
        }
    }

    public static Dataset open(Path root, Options options) throws DatasetException {
        DatasetFiles.requireDirectory(root, "imagefolder");
        List<String> notes = new ArrayList<>();
        Path trainDir = child(root, TRAIN_DIRS);
        Path testDir = trainDir == null ? null : child(root, TEST_DIRS);
        Path classRoot = trainDir != null ? trainDir : root;

        List<String> classes = subdirectories(classRoot);
        if (classes.isEmpty()) {
            throw new DatasetException(classRoot + " has no class directories; expected " + classRoot
                    + "/<class name>/<image>.png|jpg");
        }
        Map<String, Integer> classIndex = new HashMap<>();
        for (int i = 0; i < classes.size(); i++) {
            classIndex.put(classes.get(i), i);
        }
        Listing train = list(classRoot, classes, classIndex, notes);
        Listing test;
        if (testDir != null) {
            List<String> testClasses = subdirectories(testDir);
            for (String testClass : testClasses) {
                if (!classIndex.containsKey(testClass)) {
                    throw new DatasetException(testDir.resolve(testClass) + " is a class that " + classRoot
                            + " does not have (training classes: " + String.join(", ", classes) + ")");
                }
            }
            test = list(testDir, testClasses, classIndex, notes);
        } else {
            HeldOut.Partition partition = HeldOut.split(train.labelArray(), options.heldOutFraction(), options.seed());
            test = train.select(partition.test());
            train = train.select(partition.train());
            notes.add("no Training/Testing or train/test directories: " + test.files.size() + " images ("
                    + options.heldOutFraction() + " of each class, seed " + options.seed() + ") held out for testing");
        }
        if (train.files.isEmpty()) {
            throw new DatasetException(classRoot + " holds no .png, .jpg or .jpeg images");
        }

        List<SkippedFile> skipped = new ArrayList<>();
        ImageShape shape = chooseShape(train, options, notes);
        ExecutorService pool = Executors.newFixedThreadPool(options.threads(), runnable -> {
            Thread thread = new Thread(runnable, "imagefolder-decode");
            thread.setDaemon(true);
            return thread;
        });
        try {
            ImageSet trainSet = decodeAll(train, shape, pool, skipped);
            ImageSet testSet = decodeAll(test, shape, pool, skipped);
            if (trainSet.size() == 0) {
                throw new DatasetException(classRoot + ": none of the " + train.files.size() + " images could be read: "
                        + skipped.get(0));
            }
            if (!skipped.isEmpty()) {
                notes.add(skipped.size() + " unreadable image" + (skipped.size() == 1 ? "" : "s") + " skipped");
            }
            String name = root.toAbsolutePath().normalize().getFileName() == null ? "imagefolder"
                    : root.toAbsolutePath().normalize().getFileName().toString().toLowerCase(Locale.ROOT);
            return Dataset.of(name, classes, trainSet, testSet, new LoadReport(skipped, notes));
        } finally {
            pool.shutdownNow();
        }
    }

    /** Image files and their class index, in directory then file-name order. */
    private record Listing(List<Path> files, List<Integer> labels) {

        int[] labelArray() {
            return labels.stream().mapToInt(Integer::intValue).toArray();
        }

        Listing select(int[] indices) {
            List<Path> f = new ArrayList<>();
            List<Integer> l = new ArrayList<>();
            for (int i : indices) {
                f.add(files.get(i));
                l.add(labels.get(i));
            }
            return new Listing(f, l);
        }
    }

    private static Listing list(Path dir, List<String> classes, Map<String, Integer> classIndex, List<String> notes)
            throws DatasetException {
        List<Path> files = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        int ignored = 0;
        for (String className : classes) {
            Path classDir = dir.resolve(className);
            List<Path> entries;
            try (Stream<Path> stream = Files.list(classDir)) {
                entries = stream.filter(Files::isRegularFile)
                        .filter(path -> !path.getFileName().toString().startsWith("."))
                        .sorted().toList();
            } catch (IOException e) {
                throw new DatasetException(classDir + ": could not list (" + e.getMessage() + ")", e);
            }
            int found = 0;
            for (Path entry : entries) {
                if (isImage(entry)) {
                    files.add(entry);
                    labels.add(classIndex.get(className));
                    found++;
                } else {
                    ignored++;
                }
            }
            if (found == 0) {
                notes.add(classDir + " holds no images");
            }
        }
        if (ignored > 0) {
            notes.add(dir + ": " + ignored + " file" + (ignored == 1 ? "" : "s") + " without a .png, .jpg or .jpeg name ignored");
        }
        return new Listing(files, labels);
    }

    private static boolean isImage(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        return EXTENSIONS.stream().anyMatch(name::endsWith);
    }

    private static ImageShape chooseShape(Listing train, Options options, List<String> notes) {
        if (options.height() > 0) {
            return new ImageShape(options.channels(), options.height(), options.width());
        }
        for (Path file : train.files) {
            try {
                int[] size = ImageDecoder.size(file);
                notes.add("image size " + size[0] + "×" + size[1] + " taken from " + file.getFileName()
                        + "; other sizes are resized to it (set the size option to choose)");
                return new ImageShape(options.channels(), size[0], size[1]);
            } catch (IOException e) {
                // decodeAll reports it with the rest.
            }
        }
        // Nothing readable; decodeAll will say so. Any shape does.
        return new ImageShape(options.channels(), 1, 1);
    }

    private static ImageSet decodeAll(Listing listing, ImageShape shape, ExecutorService pool, List<SkippedFile> skipped)
            throws DatasetException {
        List<Future<byte[]>> futures = new ArrayList<>();
        for (Path file : listing.files) {
            futures.add(pool.submit(() -> ImageDecoder.decode(file, shape)));
        }
        List<byte[]> images = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        for (int i = 0; i < futures.size(); i++) {
            try {
                images.add(futures.get(i).get());
                labels.add(listing.labels.get(i));
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                String reason = cause.getMessage() == null ? cause.toString() : cause.getMessage();
                skipped.add(new SkippedFile(listing.files.get(i), reason));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new DatasetException("interrupted while decoding images", e);
            }
        }
        byte[] pixels = new byte[images.size() * shape.length()];
        for (int i = 0; i < images.size(); i++) {
            System.arraycopy(images.get(i), 0, pixels, i * shape.length(), shape.length());
        }
        return new ImageSet(shape, pixels, labels.stream().mapToInt(Integer::intValue).toArray());
    }

    private static Path child(Path root, List<String> names) throws DatasetException {
        for (String name : names) {
            for (String dir : subdirectories(root)) {
                if (dir.toLowerCase(Locale.ROOT).equals(name)) {
                    return root.resolve(dir);
                }
            }
        }
        return null;
    }

    private static List<String> subdirectories(Path dir) throws DatasetException {
        try (Stream<Path> stream = Files.list(dir)) {
            return stream.filter(Files::isDirectory)
                    .map(path -> path.getFileName().toString())
                    .filter(name -> !name.startsWith("."))
                    .sorted().toList();
        } catch (IOException e) {
            throw new DatasetException(dir + ": could not list (" + e.getMessage() + ")", e);
        }
    }
}
