package io.wattlab.trainer.data;

import io.wattlab.trainer.data.batch.Batch;
import io.wattlab.trainer.data.batch.BatchIterator;
import io.wattlab.trainer.data.batch.BatchLoader;
import io.wattlab.trainer.data.transform.Normalize;
import io.wattlab.trainer.data.transform.RandomCrop;
import io.wattlab.trainer.data.transform.RandomHorizontalFlip;
import io.wattlab.trainer.data.transform.Resize;
import io.wattlab.trainer.data.transform.Transforms;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DatasetsTest {

    @Test
    void aTrainingLoopReadsLikeThis() throws Exception {
        Dataset dataset = Datasets.open(new DatasetSpec("synthetic", null,
                Map.of("classes", "4", "size", "24", "train", "40", "test", "12", "seed", "1")));
        Split.Normalization stats = dataset.train().channelStatistics();
        Dataset prepared = dataset.withTransforms(Transforms.of(new Resize(32, 32), new RandomCrop(4),
                new RandomHorizontalFlip(), stats.asTransform()));
        prepared.requireFits(new long[] {-1, 3, 32, 32}, 4);

        int seen = 0;
        try (BatchIterator batches = BatchLoader.training(prepared.train(), 16, 7).epoch(0)) {
            while (batches.hasNext()) {
                Batch batch = batches.next();
                assertArrayEquals(new long[] {batch.size(), 3, 32, 32}, batch.imagesTensorShape());
                assertEquals(batch.images().length, batch.imagesBuffer().remaining());
                seen += batch.size();
            }
        }
        assertEquals(40, seen);
    }

    @Test
    void anUnknownFormatListsTheKnownOnes() {
        DatasetException error = assertThrows(DatasetException.class,
                () -> Datasets.open(DatasetSpec.of("imagenet", Path.of("."))));
        assertEquals("unknown dataset format 'imagenet' (known: cifar10, cifar100, mnist, fashion-mnist, medmnist, "
                + "imagefolder, synthetic)", error.getMessage());
    }

    @Test
    void aMissingPathIsNamed() {
        Path nowhere = Path.of("target", "no-such-dataset");
        MissingDatasetFileException error = assertThrows(MissingDatasetFileException.class,
                () -> Datasets.open(DatasetSpec.of("CIFAR-10", nowhere)));
        assertEquals("cifar10 dataset path " + nowhere + " does not exist", error.getMessage());
        DatasetException noPath = assertThrows(DatasetException.class, () -> Datasets.open(DatasetSpec.of("mnist", null)));
        assertTrue(noPath.getMessage().contains("needs a path"), noPath.getMessage());
    }

    @Test
    void unknownOptionsAndBadValuesAreNamed() {
        DatasetException unknown = assertThrows(DatasetException.class,
                () -> Datasets.open(DatasetSpec.of("synthetic", null).with("colour", "red")));
        assertTrue(unknown.getMessage().contains("format synthetic has no option colour (options: classes, size"),
                unknown.getMessage());
        DatasetException none = assertThrows(DatasetException.class,
                () -> Datasets.open(DatasetSpec.of("mnist", Path.of("target")).with("labels", "fine")));
        assertTrue(none.getMessage().contains("format mnist has no option labels (it takes none)"), none.getMessage());
        DatasetException size = assertThrows(DatasetException.class,
                () -> Datasets.open(DatasetSpec.of("synthetic", null).with("size", "big")));
        assertTrue(size.getMessage().contains("option size=big is not valid; expected a size such as 224x224"),
                size.getMessage());
        DatasetException fraction = assertThrows(DatasetException.class,
                () -> Datasets.open(DatasetSpec.of("imagefolder", Path.of("target")).with("heldOutFraction", "1.5")));
        assertTrue(fraction.getMessage().contains("heldOutFraction=1.5"), fraction.getMessage());
    }

    @Test
    void normalizeWithTheWrongChannelCountIsRefusedWhenTransformsAreSet() throws Exception {
        Dataset gray = Datasets.open(DatasetSpec.of("synthetic", null).with("channels", "1").with("train", "10")
                .with("test", "10"));
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> gray.withTransforms(
                Transforms.of(new Normalize(new float[] {0.1f, 0.2f, 0.3f}, new float[] {1f, 1f, 1f}))));
        assertTrue(error.getMessage().contains("3 channel means but the images are 1×32×32"), error.getMessage());
    }
}
