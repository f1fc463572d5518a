package io.wattlab.trainer.data;

import io.wattlab.trainer.data.transform.Transforms;

import java.util.List;
import java.util.Objects;

/**
 * A labelled image-classification dataset with a training and a test split, as loaded from files in
 * one of the published formats (see {@link Datasets}), and the transforms that bring its images to
 * a model's input. Immutable: {@link #withTransforms} gives a new one.
 */
public final class Dataset {

    private final String name;
    private final List<String> classNames;
    private final ImageSet train;
    private final ImageSet test;
    private final LoadReport report;
    private final Transforms transforms;

    private Dataset(String name, List<String> classNames, ImageSet train, ImageSet test, LoadReport report,
                    Transforms transforms) {
        this.name = Objects.requireNonNull(name, "name");
        this.classNames = List.copyOf(classNames);
        this.train = Objects.requireNonNull(train, "train");
        this.test = Objects.requireNonNull(test, "test");
        this.report = Objects.requireNonNull(report, "report");
        this.transforms = Objects.requireNonNull(transforms, "transforms");
        if (!train.shape().equals(test.shape())) {
            throw new IllegalArgumentException("dataset " + name + ": training images are " + train.shape()
                    + " but test images are " + test.shape());
        }
        if (classNames.isEmpty()) {
            throw new IllegalArgumentException("dataset " + name + " has no classes");
        }
        int bound = Math.max(train.labelBound(), test.labelBound());
        if (bound > classNames.size()) {
            throw new IllegalArgumentException("dataset " + name + " has label " + (bound - 1) + " but only "
                    + classNames.size() + " classes");
        }
        transforms.outputShape(train.shape());
    }

    /**
     * A dataset with no transforms.
     *
     * @param name       short name used in messages, such as {@code cifar10}
     * @param classNames one per class, index = label
     * @param train      training images
     * @param test       test images, of the same shape
     * @param report     what the loader skipped or decided
     */
    public static Dataset of(String name, List<String> classNames, ImageSet train, ImageSet test, LoadReport report) {
        return new Dataset(name, classNames, train, test, report, Transforms.none());
    }

    /**
     * The same images seen through {@code newTransforms}.
     *
     * @throws IllegalArgumentException where a step cannot take the images (for example a normalisation
     *                                  with three means for grayscale images)
     */
    public Dataset withTransforms(Transforms newTransforms) {
        return new Dataset(name, classNames, train, test, report, newTransforms);
    }

    public String name() {
        return name;
    }

    public List<String> classNames() {
        return classNames;
    }

    public int numClasses() {
        return classNames.size();
    }

    /** The shape of the images as stored, before any transform. */
    public ImageShape storedShape() {
        return train.shape();
    }

    /** The shape of the images after the transforms: what a model receives. */
    public ImageShape imageShape() {
        return transforms.outputShape(train.shape());
    }

    public Transforms transforms() {
        return transforms;
    }

    /** The training split, with every transform including augmentations. */
    public Split train() {
        return new Split(name + "/train", train, transforms);
    }

    /** The test split: the format's own where it has one, else a seeded held-out share; never augmented. */
    public Split test() {
        return new Split(name + "/test", test, transforms.forEvaluation());
    }

    public LoadReport report() {
        return report;
    }

    /**
     * Checks that the images (after the transforms) and the classes fit a model.
     *
     * @param modelInputShape the model's image input, {@code [N, C, H, W]} or {@code [C, H, W]}; a
     *                        negative entry is a dynamic dimension and fits anything
     * @param modelClasses    the model's number of output classes; 0 or less if unknown
     * @throws DatasetMismatchException saying both shapes, for example "dataset cifar10 gives 3×32×32
     *                                  images and 10 classes; model expects input 1×28×28 and 10 classes"
     */
    public void requireFits(int[] modelInputShape, int modelClasses) throws DatasetMismatchException {
        long[] wide = new long[modelInputShape.length];
        for (int i = 0; i < wide.length; i++) {
            wide[i] = modelInputShape[i];
        }
        requireFits(wide, modelClasses);
    }

    /** As {@link #requireFits(int[], int)}, for shapes as ONNX Runtime reports them. */
    public void requireFits(long[] modelInputShape, long modelClasses) throws DatasetMismatchException {
        ImageShape shape = imageShape();
        if (modelInputShape.length != 3 && modelInputShape.length != 4) {
            throw new DatasetMismatchException("dataset " + name + " gives " + shape + " images; model input has "
                    + modelInputShape.length + " dimensions, expected [N, C, H, W] or [C, H, W]");
        }
        int skip = modelInputShape.length - 3;
        long channels = modelInputShape[skip];
        long height = modelInputShape[skip + 1];
        long width = modelInputShape[skip + 2];
        boolean channelsFit = channels < 0 || channels == shape.channels();
        boolean sizeFits = (height < 0 || height == shape.height()) && (width < 0 || width == shape.width());
        boolean classesFit = modelClasses <= 0 || modelClasses == numClasses();
        if (channelsFit && sizeFits && classesFit) {
            return;
        }
        StringBuilder message = new StringBuilder()
                .append("dataset ").append(name).append(" gives ").append(shape).append(" images and ")
                .append(numClasses()).append(" classes; model expects input ")
                .append(dim(channels)).append('×').append(dim(height)).append('×').append(dim(width))
                .append(" and ").append(modelClasses <= 0 ? "?" : Long.toString(modelClasses)).append(" classes");
        if (!channelsFit) {
            message.append("; add ToChannels(").append(channels).append(") to the transforms");
        }
        if (!sizeFits) {
            message.append("; add Resize(").append(height < 0 ? shape.height() : height).append(", ")
                    .append(width < 0 ? shape.width() : width).append(") to the transforms");
        }
        if (!classesFit) {
            message.append("; the model's classifier must have one output per dataset class");
        }
        throw new DatasetMismatchException(message.toString());
    }

    private static String dim(long d) {
        return d < 0 ? "?" : Long.toString(d);
    }

    @Override
    public String toString() {
        return name + " (" + numClasses() + " classes, " + train.size() + " training and " + test.size()
                + " test images of " + imageShape() + ")";
    }
}
