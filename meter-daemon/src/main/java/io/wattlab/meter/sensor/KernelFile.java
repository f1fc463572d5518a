package io.wattlab.meter.sensor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A file the kernel writes on demand ({@code energy_uj} in sysfs, {@code /proc/stat}), opened once
 * and read again from offset 0 at every sample. sysfs and procfs build a file's content afresh on
 * each read from the start, so one open descriptor sees every new value; opening, reading and
 * closing the file ten times a second, as {@code Files.readString} does, was most of what a RAPL
 * read cost. Not thread-safe: each sensor reads its own files from its own thread.
 */
public final class KernelFile implements AutoCloseable {

    private final Path path;
    private final ByteBuffer buffer;
    private FileChannel channel;

    private KernelFile(Path path, int capacityBytes) throws IOException {
        this.path = path;
        this.buffer = ByteBuffer.allocateDirect(capacityBytes);
        this.channel = FileChannel.open(path, StandardOpenOption.READ);
    }

    /**
     * Opens the file for reading.
     *
     * @param capacityBytes how much of the file a read returns at most: the first line of
     *                      {@code /proc/stat} fits in a few hundred bytes, a counter in 32
     * @throws IOException where it cannot be opened (missing, or not readable by this user)
     */
    public static KernelFile open(Path path, int capacityBytes) throws IOException {
        return new KernelFile(path, capacityBytes);
    }

    public Path path() {
        return path;
    }

    /**
     * The file's first {@code capacityBytes} as they are now, in a buffer that stays valid until
     * the next read. Where the open descriptor fails (a driver reloaded removes its sysfs nodes and
     * makes new ones), the file is opened again by path once before the failure is passed on.
     */
    public ByteBuffer read() throws IOException {
        try {
            return readOnce();
        } catch (IOException first) {
            try {
                channel.close();
                channel = FileChannel.open(path, StandardOpenOption.READ);
                return readOnce();
            } catch (IOException again) {
                again.addSuppressed(first);
                throw again;
            }
        }
    }

    /** The first decimal integer in the file, leading whitespace and zeros allowed: a counter. */
    public long readLong() throws IOException {
        ByteBuffer content = read();
        int i = content.position();
        int end = content.limit();
        while (i < end && Character.isWhitespace(content.get(i))) {
            i++;
        }
        int start = i;
        long value = 0;
        for (; i < end; i++) {
            byte b = content.get(i);
            if (b < '0' || b > '9') {
                break;
            }
            try {
                value = Math.addExact(Math.multiplyExact(value, 10), b - '0');
            } catch (ArithmeticException e) {
                throw new NumberFormatException("too large for a 64-bit counter: \"" + text(content).strip() + "\"");
            }
        }
        boolean restIsBlank = true;
        for (int k = i; k < end; k++) {
            restIsBlank &= Character.isWhitespace(content.get(k));
        }
        if (i == start || !restIsBlank) {
            throw new NumberFormatException("For input string: \"" + text(content).strip() + "\"");
        }
        return value;
    }

    private ByteBuffer readOnce() throws IOException {
        buffer.clear();
        long position = 0;
        // A read may return fewer bytes than asked; the kernel's content is whole once it returns -1 or fills the buffer.
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, position);
            if (n <= 0) {
                break;
            }
            position += n;
        }
        buffer.flip();
        return buffer;
    }

    private static String text(ByteBuffer content) {
        byte[] bytes = new byte[content.remaining()];
        content.duplicate().get(bytes);
        return new String(bytes, StandardCharsets.US_ASCII);
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // Closing a read-only descriptor loses nothing.
        }
    }
}
