package io.wattlab.trainer.data.folder;

import io.wattlab.trainer.data.ImageShape;
import io.wattlab.trainer.data.transform.Resize;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Iterator;

/** Decodes one PNG or JPEG file into bytes of a given shape with javax.imageio. */
final class ImageDecoder {

    private ImageDecoder() {
    }

    /** Height and width from the file's header, without decoding the pixels. */
    static int[] size(Path file) throws IOException {
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            if (in == null) {
                throw new IOException("cannot open");
            }
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                throw new IOException("not an image format ImageIO can read");
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(in);
                return new int[] {reader.getHeight(0), reader.getWidth(0)};
            } finally {
                reader.dispose();
            }
        }
    }

    /**
     * The image converted to {@code shape.channels()} channels and resized to {@code shape}'s size,
     * CHW, rounded to bytes.
     *
     * @throws IOException with a message saying why the file could not be decoded
     */
    static byte[] decode(Path file, ImageShape shape) throws IOException {
        BufferedImage image;
        try {
            image = ImageIO.read(file.toFile());
        } catch (IOException e) {
            throw new IOException("could not decode: " + rootMessage(e), e);
        } catch (RuntimeException e) {
            // Some decoders throw unchecked exceptions on malformed data.
            throw new IOException("could not decode: " + e, e);
        }
        if (image == null) {
            throw new IOException("not a PNG or JPEG image ImageIO can read");
        }
        ImageShape decoded = new ImageShape(shape.channels(), image.getHeight(), image.getWidth());
        float[] values = toFloats(image, shape.channels());
        float[] resized = new float[shape.length()];
        Resize.resample(values, decoded, resized, shape.height(), shape.width());
        byte[] bytes = new byte[shape.length()];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = (byte) Math.round(Math.min(1f, Math.max(0f, resized[i])) * 255f);
        }
        return bytes;
    }

    // Gray images are read from the raster: BufferedImage.getRGB would pass them through a colour
    // conversion that brightens them.
    private static float[] toFloats(BufferedImage image, int channels) {
        int height = image.getHeight();
        int width = image.getWidth();
        int plane = height * width;
        float[] out = new float[channels * plane];
        Raster raster = image.getRaster();
        boolean gray = raster.getNumBands() <= 2 && !(image.getColorModel() instanceof IndexColorModel);
        if (gray) {
            float max = (1 << image.getColorModel().getComponentSize(0)) - 1;
            int[] row = new int[width];
            for (int y = 0; y < height; y++) {
                raster.getSamples(0, y, width, 1, 0, row);
                for (int x = 0; x < width; x++) {
                    float v = row[x] / max;
                    for (int c = 0; c < channels; c++) {
                        out[c * plane + y * width + x] = v;
                    }
                }
            }
            return out;
        }
        int[] argb = image.getRGB(0, 0, width, height, null, 0, width);
        for (int i = 0; i < plane; i++) {
            float r = ((argb[i] >> 16) & 0xff) / 255f;
            float g = ((argb[i] >> 8) & 0xff) / 255f;
            float b = (argb[i] & 0xff) / 255f;
            if (channels == 1) {
                out[i] = 0.299f * r + 0.587f * g + 0.114f * b;
            } else {
                out[i] = r;
                out[plane + i] = g;
                out[2 * plane + i] = b;
            }
        }
        return out;
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getMessage() == null ? t.toString() : t.getMessage();
    }
}
