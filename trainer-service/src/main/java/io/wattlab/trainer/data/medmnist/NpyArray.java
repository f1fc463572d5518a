package io.wattlab.trainer.data.medmnist;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An array read from NumPy's {@code .npy} format: the magic {@code \x93NUMPY}, a version, a header
 * length, a header that is a Python dict literal ({@code descr}, {@code fortran_order},
 * {@code shape}), then the raw data. Only C-order arrays are accepted.
 *
 * @param dtype the {@code descr} string, such as {@code |u1} or {@code <i8}
 * @param shape dimensions, outermost first
 * @param data  the raw bytes, {@code product(shape) × itemSize(dtype)}
 */
public record NpyArray(String dtype, long[] shape, byte[] data) {

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

    /** Thrown for a stream that is not a well-formed .npy array; the message says what is wrong. */
    public static final class FormatException extends Exception {
        FormatException(String message) {
            super(message);
        }
    }

    /** Number of elements: the product of the shape. */
    public long elements() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** Bytes per element of {@code dtype}. */
    public static int itemSize(String dtype) throws FormatException {
        if (dtype.length() < 3) {
            throw new FormatException("dtype '" + dtype + "' is not a simple numeric type");
        }
        try {
            return Integer.parseInt(dtype.substring(2));
        } catch (NumberFormatException e) {
            throw new FormatException("dtype '" + dtype + "' is not a simple numeric type");
        }
    }

    /**
     * The elements as non-negative integers, for integer dtypes ({@code |u1 |i1 <u2 <i2 <u4 <i4 <u8 <i8},
     * and big-endian {@code >}).
     *
     * @throws FormatException for other dtypes, or for a negative or out-of-range value
     */
    public int[] toLabelInts() throws FormatException {
        char kind = dtype.charAt(1);
        if (kind != 'u' && kind != 'i' || !(dtype.charAt(0) == '<' || dtype.charAt(0) == '>' || dtype.charAt(0) == '|')) {
            throw new FormatException("dtype '" + dtype + "' is not an integer type");
        }
        int size = itemSize(dtype);
        ByteBuffer buffer = ByteBuffer.wrap(data).order(dtype.charAt(0) == '>' ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
        int[] values = new int[(int) elements()];
        for (int i = 0; i < values.length; i++) {
            long v = switch (size) {
                case 1 -> kind == 'u' ? buffer.get() & 0xffL : buffer.get();
                case 2 -> kind == 'u' ? buffer.getShort() & 0xffffL : buffer.getShort();
                case 4 -> kind == 'u' ? buffer.getInt() & 0xffffffffL : buffer.getInt();
                case 8 -> buffer.getLong();
                default -> throw new FormatException("dtype '" + dtype + "' has an unsupported size");
            };
            if (v < 0 || v > Integer.MAX_VALUE) {
                throw new FormatException("element " + i + " is " + (kind == 'u' && size == 8 ? Long.toUnsignedString(v) : v)
                        + ", not a class index");
            }
            values[i] = (int) v;
        }
        return values;
    }

    /** Reads one array from {@code in}, leaving the stream after its data. */
    public static NpyArray read(InputStream in) throws IOException, FormatException {
        byte[] magic = in.readNBytes(MAGIC.length);
        if (!Arrays.equals(magic, MAGIC)) {
            throw new FormatException("does not start with the .npy magic \\x93NUMPY");
        }
        int major = in.read();
        int minor = in.read();
        if (major < 1 || major > 3 || minor < 0) {
            throw new FormatException("unsupported .npy version " + major + "." + minor);
        }
        // Version 1 gives the header length in 2 bytes, versions 2 and 3 in 4; both little-endian.
        byte[] lengthBytes = in.readNBytes(major == 1 ? 2 : 4);
        if (lengthBytes.length < (major == 1 ? 2 : 4)) {
            throw new FormatException("truncated in the header length");
        }
        ByteBuffer lengthBuffer = ByteBuffer.wrap(lengthBytes).order(ByteOrder.LITTLE_ENDIAN);
        long headerLength = major == 1 ? lengthBuffer.getShort() & 0xffff : lengthBuffer.getInt() & 0xffffffffL;
        if (headerLength > 1 << 20) {
            throw new FormatException("header length " + headerLength + " is implausible");
        }
        byte[] headerBytes = in.readNBytes((int) headerLength);
        if (headerBytes.length < headerLength) {
            throw new FormatException("truncated in the header");
        }
        String header = new String(headerBytes, major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        String dtype = find(DESCR, header, "descr");
        if (find(FORTRAN, header, "fortran_order").equals("True")) {
            throw new FormatException("is stored in Fortran order; only C order is supported");
        }
        long[] shape = parseShape(find(SHAPE, header, "shape"));
        long elements = 1;
        for (long d : shape) {
            elements = Math.multiplyExact(elements, d);
        }
        long bytes = elements * itemSize(dtype);
        if (bytes > Integer.MAX_VALUE - 8) {
            throw new FormatException("holds " + bytes + " bytes of data, more than one Java array can take");
        }
        byte[] data = in.readNBytes((int) bytes);
        if (data.length < bytes) {
            throw new FormatException("header promises shape " + Arrays.toString(shape) + " of " + dtype + " = "
                    + bytes + " bytes, but only " + data.length + " follow (truncated)");
        }
        return new NpyArray(dtype, shape, data);
    }

    private static String find(Pattern pattern, String header, String key) throws FormatException {
        Matcher matcher = pattern.matcher(header);
        if (!matcher.find()) {
            throw new FormatException("header has no '" + key + "': " + header.strip());
        }
        return matcher.group(1);
    }

    private static long[] parseShape(String text) throws FormatException {
        String[] parts = text.split(",");
        long[] dims = new long[parts.length];
        int count = 0;
        for (String part : parts) {
            String digits = part.strip();
            if (digits.isEmpty()) {
                continue;
            }
            try {
                dims[count] = Long.parseLong(digits);
            } catch (NumberFormatException e) {
                throw new FormatException("shape (" + text + ") is not a tuple of integers");
            }
            if (dims[count] < 0) {
                throw new FormatException("shape (" + text + ") has a negative dimension");
            }
            count++;
        }
        return Arrays.copyOf(dims, count);
    }

    @Override
    public String toString() {
        return "NpyArray[" + dtype + " " + Arrays.toString(shape) + "]";
    }
}
