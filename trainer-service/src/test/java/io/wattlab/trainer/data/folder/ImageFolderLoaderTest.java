package io.wattlab.trainer.data.folder;

import io.wattlab.trainer.data.Dataset;
import io.wattlab.trainer.data.DatasetException;
import io.wattlab.trainer.data.DatasetSpec;
import io.wattlab.trainer.data.Datasets;
import io.wattlab.trainer.data.ImageShape;
import io.wattlab.trainer.data.SkippedFile;
import io.wattlab.trainer.data.Split;
import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import static io.wattlab.trainer.data.FormatWriters.freshDirectory;
import static io.wattlab.trainer.data.FormatWriters.rgbImage;
import static io.wattlab.trainer.data.FormatWriters.write;
import static io.wattlab.trainer.data.FormatWriters.writeImage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImageFolderLoaderTest {

    /** Pixel (y, x) of image {@code seed} is (seed, 10y + x, 200): distinct, exactly checkable through PNG. */
    private static BufferedImage pattern(int seed) {
        return rgbImage(4, 5, (y, x) -> (seed << 16) | ((10 * y + x) << 8) | 200);
    }

    /** A Brain-Tumor-MRI-like tree: Training/ and Testing/, two classes, PNG and JPEG, one broken file of each kind. */
    private static Path mriTree() throws Exception {
        Path root = freshDirectory("mri-").resolve("brain-tumor-mri");
        writeImage(root.resolve("Training/notumor/a.png"), pattern(1), "png");
        writeImage(root.resolve("Training/notumor/b.png"), pattern(2), "png");
        writeImage(root.resolve("Training/glioma/c.jpg"), rgbImage(4, 5, (y, x) -> 0x508CC8), "jpg");
        writeImage(root.resolve("Training/glioma/d.png"), pattern(3), "png");
        write(root.resolve("Training/glioma/e.png"), "this is not a PNG".getBytes());
        byte[] png = Files.readAllBytes(root.resolve("Training/notumor/a.png"));
        write(root.resolve("Training/notumor/f.png"), Arrays.copyOf(png, png.length / 2));
        write(root.resolve("Training/notumor/notes.txt"), "ignored".getBytes());
        writeImage(root.resolve("Testing/glioma/g.png"), pattern(4), "png");
        writeImage(root.resolve("Testing/notumor/h.jpeg"), rgbImage(4, 5, (y, x) -> 0x202020), "jpg");
        return root;
    }

    @Test
    void readsTrainingAndTestingFoldersWithClassesSortedByName() throws Exception {
        Dataset dataset = Datasets.open(DatasetSpec.of("imagefolder", mriTree()));
        assertEquals("brain-tumor-mri", dataset.name());
        assertEquals(List.of("glioma", "notumor"), dataset.classNames());
        assertEquals(new ImageShape(3, 4, 5), dataset.imageShape());
        Split train = dataset.train();
        assertEquals(4, train.size(), "c.jpg, d.png, a.png, b.png; e.png and f.png skipped");
        assertEquals(List.of(0, 0, 1, 1), List.of(train.label(0), train.label(1), train.label(2), train.label(3)));
        assertEquals(2, dataset.test().size());
        assertEquals(0, dataset.test().label(0));

        // d.png, stored losslessly: red 3, green 10y + x, blue 200, in CHW order.
        float[] image = new float[60];
        train.fill(new int[] {1}, image, new long[1], 0);
        assertEquals(3 / 255f, image[0], 1e-7f);
        assertEquals(23 / 255f, image[20 + 2 * 5 + 3], 1e-7f);
        assertEquals(200 / 255f, image[40 + 19], 1e-7f);

        // c.jpg, a flat colour, comes back within JPEG's rounding.
        train.fill(new int[] {0}, image, new long[1], 0);
        assertEquals(0x50 / 255f, image[7], 3 / 255f);
        assertEquals(0x8C / 255f, image[27], 3 / 255f);
        assertEquals(0xC8 / 255f, image[47], 3 / 255f);
    }

    @Test
    void corruptImagesAreSkippedAndReportedNotFatal() throws Exception {
        Path root = mriTree();
        Dataset dataset = Datasets.open(DatasetSpec.of("imagefolder", root));
        List<SkippedFile> skipped = dataset.report().skipped();
        Set<Path> paths = new TreeSet<>();
        for (SkippedFile file : skipped) {
            paths.add(file.path());
            assertTrue(!file.reason().isBlank());
        }
        assertEquals(Set.of(root.resolve("Training/glioma/e.png"), root.resolve("Training/notumor/f.png")), paths);
        SkippedFile notAnImage = skipped.stream().filter(file -> file.path().endsWith("e.png")).findFirst().orElseThrow();
        assertEquals("not a PNG or JPEG image ImageIO can read", notAnImage.reason());
        assertTrue(dataset.report().notes().stream().anyMatch(note -> note.contains("2 unreadable images skipped")),
                dataset.report().notes().toString());
        assertTrue(dataset.report().notes().stream().anyMatch(note -> note.contains("1 file without a .png, .jpg or .jpeg name")),
                dataset.report().notes().toString());
    }

    @Test
    void sizeAndChannelOptionsResizeAndConvertAtLoad() throws Exception {
        Path root = freshDirectory("folder-").resolve("flat");
        writeImage(root.resolve("train/red/1.png"), rgbImage(12, 9, (y, x) -> 0xC80000), "png");
        writeImage(root.resolve("train/white/1.png"), rgbImage(3, 30, (y, x) -> 0xFFFFFF), "png");
        BufferedImage gray = new BufferedImage(6, 6, BufferedImage.TYPE_BYTE_GRAY);
        gray.getRaster().setSample(0, 0, 0, 77);
        writeImage(root.resolve("test/red/gray.png"), gray, "png");

        Dataset dataset = Datasets.open(DatasetSpec.of("imagefolder", root).with("size", "4x6").with("channels", "1"));
        assertEquals(new ImageShape(1, 4, 6), dataset.imageShape());
        float[] images = new float[2 * 24];
        dataset.train().fill(new int[] {0, 1}, images, new long[2], 0);
        // Red 200 has luma 0.299 · 200 = 59.8, stored as byte 60; white stays 255.
        for (int p = 0; p < 24; p++) {
            assertEquals(60 / 255f, images[p], 1e-7f);
            assertEquals(1f, images[24 + p], 1e-7f);
        }
        // A gray PNG keeps its values: BufferedImage.getRGB would pass 77 through the linear gray
        // colour space and give 149.
        Dataset full = Datasets.open(DatasetSpec.of("imagefolder", root).with("size", "6").with("channels", "1"));
        float[] corner = new float[36];
        full.test().fill(new int[] {0}, corner, new long[1], 0);
        assertEquals(77 / 255f, corner[0], 1e-7f);
        assertEquals(0f, corner[1], 1e-7f);
    }

    @Test
    void withoutATestFolderASeededShareOfEachClassIsHeldOut() throws Exception {
        Path root = freshDirectory("folder-").resolve("classes");
        for (String name : List.of("b", "a")) {
            for (int i = 0; i < 5; i++) {
                writeImage(root.resolve(name + "/" + i + ".png"), pattern(i + (name.equals("a") ? 0 : 10)), "png");
            }
        }
        DatasetSpec spec = DatasetSpec.of("imagefolder", root).with("heldOutFraction", "0.4").with("seed", "3");
        Dataset dataset = Datasets.open(spec);
        assertEquals(List.of("a", "b"), dataset.classNames());
        assertEquals(6, dataset.train().size());
        assertEquals(4, dataset.test().size());
        assertEquals(List.of(0L, 0L, 1L, 1L), labels(dataset.test()));
        assertTrue(dataset.report().notes().stream().anyMatch(note -> note.contains("held out")));

        float[] first = new float[4 * 60];
        float[] again = new float[4 * 60];
        dataset.test().fill(new int[] {0, 1, 2, 3}, first, new long[4], 0);
        Datasets.open(spec).test().fill(new int[] {0, 1, 2, 3}, again, new long[4], 0);
        assertTrue(Arrays.equals(first, again), "the same seed holds out the same images");
    }

    @Test
    void aTestClassTheTrainingSetLacksIsAnError() throws Exception {
        Path root = freshDirectory("folder-").resolve("mismatch");
        writeImage(root.resolve("Training/cat/1.png"), pattern(1), "png");
        writeImage(root.resolve("Testing/dog/1.png"), pattern(2), "png");
        DatasetException error = assertThrows(DatasetException.class, () -> Datasets.open(DatasetSpec.of("imagefolder", root)));
        assertTrue(error.getMessage().contains("dog") && error.getMessage().contains("training classes: cat"),
                error.getMessage());
    }

    private static List<Long> labels(Split split) {
        long[] labels = new long[split.size()];
        int[] all = new int[split.size()];
        for (int i = 0; i < all.length; i++) {
            all[i] = i;
        }
        split.fill(all, new float[all.length * split.imageShape().length()], labels, 0);
        return Arrays.stream(labels).boxed().toList();
    }
}
