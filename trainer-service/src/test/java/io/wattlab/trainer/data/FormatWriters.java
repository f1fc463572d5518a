package io.wattlab.trainer.data;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.GZIPOutputStream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Writes small datasets in the exact byte formats the loaders read, for tests: CIFAR binary
 * records, IDX files, .npy/.npz archives and PNG/JPEG trees. Files go under {@code target/}.
 */
public final class FormatWriters {

    private FormatWriters() {
    }

    /** A fresh empty directory under {@code target/data-tests}. */
    public static Path freshDirectory(String prefix) throws IOException {
        Path base = Files.createDirectories(Path.of("target", "data-tests"));
        return Files.createTempDirectory(base, prefix).toAbsolutePath();
    }

    /** One CIFAR record: the label bytes, then 3072 pixel bytes where pixel p of channel c is {@code fill(c, p)}. */
    public static byte[] cifarRecord(int[] labelBytes, PixelFill fill) {
        byte[] record = new byte[labelBytes.length + 3072];
        for (int i = 0; i < labelBytes.length; i++) {
            record[i] = (byte) labelBytes[i];
        }
        for (int c = 0; c < 3; c++) {
            for (int p = 0; p < 1024; p++) {
                record[labelBytes.length + c * 1024 + p] = (byte) fill.value(c, p);
            }
        }
        return record;
    }

    /** Gives the byte of pixel {@code p} (row-major) of channel {@code c}. */
    @FunctionalInterface
    public interface PixelFill {
        int value(int channel, int pixel);
    }

    public static Path write(Path file, byte[]... parts) throws IOException {
        Files.createDirectories(file.getParent());
        try (OutputStream out = Files.newOutputStream(file)) {
            for (byte[] part : parts) {
                out.write(part);
            }
        }
        return file;
    }

    /** An IDX unsigned-byte image file: magic 2051, count, rows, columns, then the pixels. */
    public static byte[] idxImages(int magic, int count, int rows, int columns, byte[] pixels) {
        ByteBuffer buffer = ByteBuffer.allocate(16 + pixels.length);
        buffer.putInt(magic).putInt(count).putInt(rows).putInt(columns).put(pixels);
        return buffer.array();
    }

    /** An IDX unsigned-byte label file: magic 2049, count, then the labels. */
    public static byte[] idxLabels(int magic, int[] labels) {
        ByteBuffer buffer = ByteBuffer.allocate(8 + labels.length);
        buffer.putInt(magic).putInt(labels.length);
        for (int label : labels) {
            buffer.put((byte) label);
        }
        return buffer.array();
    }

    public static byte[] gzip(byte[] data) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (GZIPOutputStream out = new GZIPOutputStream(bytes)) {
            out.write(data);
        }
        return bytes.toByteArray();
    }

    /**
     * A version 1.0 .npy file as numpy.save writes it: magic, version, 2-byte little-endian header
     * length, the header dict padded with spaces to a multiple of 64 bytes and ended by a newline.
     */
    public static byte[] npy(String dtype, boolean fortranOrder, long[] shape, byte[] data) {
        StringBuilder shapeText = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            shapeText.append(shape[i]);
            if (shape.length == 1 || i < shape.length - 1) {
                shapeText.append(shape.length == 1 ? "," : ", ");
            }
        }
        shapeText.append(")");
        String dict = "{'descr': '" + dtype + "', 'fortran_order': " + (fortranOrder ? "True" : "False")
                + ", 'shape': " + shapeText + ", }";
        int unpadded = 10 + dict.length() + 1;
        int padded = (unpadded + 63) / 64 * 64;
        String header = dict + " ".repeat(padded - unpadded) + "\n";
        ByteBuffer buffer = ByteBuffer.allocate(10 + header.length() + data.length).order(ByteOrder.LITTLE_ENDIAN);
        buffer.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        buffer.putShort((short) header.length());
        buffer.put(header.getBytes(StandardCharsets.US_ASCII));
        buffer.put(data);
        return buffer.array();
    }

    /** A zip of {@code name.npy} members, as numpy.savez (stored) or savez_compressed (deflated) writes. */
    public static Path npz(Path file, Map<String, byte[]> arrays, boolean compressed) throws IOException {
        Files.createDirectories(file.getParent());
        try (ZipOutputStream zip = new ZipOutputStream(Files.newOutputStream(file))) {
            for (Map.Entry<String, byte[]> array : arrays.entrySet()) {
                ZipEntry entry = new ZipEntry(array.getKey() + ".npy");
                if (!compressed) {
                    entry.setMethod(ZipEntry.STORED);
                    entry.setSize(array.getValue().length);
                    CRC32 crc = new CRC32();
                    crc.update(array.getValue());
                    entry.setCrc(crc.getValue());
                }
                zip.putNextEntry(entry);
                zip.write(array.getValue());
                zip.closeEntry();
            }
        }
        return file;
    }

    /** An RGB image whose pixel (y, x) has colour {@code rgb.value(y, x)} (0xRRGGBB). */
    public static BufferedImage rgbImage(int height, int width, ColourFill rgb) {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                image.setRGB(x, y, rgb.value(y, x));
            }
        }
        return image;
    }

    /** Gives the 0xRRGGBB colour of pixel (y, x). */
    @FunctionalInterface
    public interface ColourFill {
        int value(int y, int x);
    }

    public static Path writeImage(Path file, BufferedImage image, String format) throws IOException {
        Files.createDirectories(file.getParent());
        if (!ImageIO.write(image, format, file.toFile())) {
            throw new IOException("no ImageIO writer for " + format);
        }
        return file;
    }
}
