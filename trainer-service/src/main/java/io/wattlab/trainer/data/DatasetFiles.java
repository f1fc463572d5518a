package io.wattlab.trainer.data;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/** Finding and reading the files of a dataset, with errors that name the path. */
public final class DatasetFiles {

    private DatasetFiles() {
    }

    /**
     * The first of {@code names} that exists in {@code dir}.
     *
     * @param what what the file holds, for the message, such as "MNIST training images"
     * @throws MissingDatasetFileException naming the directory and every name tried
     */
    public static Path find(Path dir, String what, List<String> names) throws MissingDatasetFileException {
        for (String name : names) {
            Path candidate = dir.resolve(name);
            if (Files.isRegularFile(candidate)) {
                return candidate;
            }
        }
        throw new MissingDatasetFileException("no " + what + " in " + dir + " (looked for " + String.join(", ", names) + ")");
    }

    /** Fails unless {@code dir} is a directory. */
    public static void requireDirectory(Path dir, String format) throws MissingDatasetFileException {
        if (!Files.exists(dir)) {
            throw new MissingDatasetFileException(format + " dataset path " + dir + " does not exist");
        }
        if (!Files.isDirectory(dir)) {
            throw new MissingDatasetFileException(format + " dataset path " + dir + " is a file; expected a directory");
        }
    }

    /** The whole file, gunzipped when it starts with the gzip magic bytes (whatever its name). */
    public static byte[] readMaybeGzipped(Path file) throws DatasetException {
        byte[] raw = readAll(file);
        if (raw.length >= 2 && (raw[0] & 0xff) == 0x1f && (raw[1] & 0xff) == 0x8b) {
            try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(raw), 1 << 16)) {
                return in.readAllBytes();
            } catch (ZipException | java.io.EOFException e) {
                throw new DatasetException(file + ": gzip data is corrupt or truncated (" + e.getMessage() + ")", e);
            } catch (IOException e) {
                throw new DatasetException(file + ": could not gunzip (" + e.getMessage() + ")", e);
            }
        }
        return raw;
    }

    public static byte[] readAll(Path file) throws DatasetException {
        try {
            return Files.readAllBytes(file);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new MissingDatasetFileException(file + " does not exist");
        } catch (IOException e) {
            throw new DatasetException(file + ": could not read (" + e + ")", e);
        }
    }
}
