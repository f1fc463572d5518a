/**
 * The datasets the trainer feeds to ONNX Runtime: loaders for published formats, the transforms
 * between stored images and a model's input, and batches prepared on a background thread.
 *
 * <p>Use: open a {@link io.wattlab.trainer.data.Dataset} from a {@link io.wattlab.trainer.data.DatasetSpec}
 * with {@link io.wattlab.trainer.data.Datasets#open}, give it the model's
 * {@link io.wattlab.trainer.data.transform.Transforms} (channels, resize, crop, flip, normalise),
 * check it with {@link io.wattlab.trainer.data.Dataset#requireFits}, then iterate
 * {@link io.wattlab.trainer.data.batch.BatchLoader#training} over {@code train()} and
 * {@link io.wattlab.trainer.data.batch.BatchLoader#evaluation} over {@code test()}.
 *
 * <p>Formats, as their publishers describe them:
 * <ul>
 * <li>CIFAR-10/100 binary version (https://www.cs.toronto.edu/~kriz/cifar.html): records of label
 *     byte(s) then 3072 bytes, red plane, green plane, blue plane, each 32×32 row-major; CIFAR-100
 *     gives the coarse label byte before the fine one.</li>
 * <li>IDX, as used by MNIST (http://yann.lecun.com/exdb/mnist/) and Fashion-MNIST
 *     (https://github.com/zalandoresearch/fashion-mnist): a big-endian magic number whose third byte
 *     is the type (0x08, unsigned byte) and fourth the number of dimensions, then each dimension as
 *     a big-endian int, then the data; hence 2051 for images and 2049 for labels.</li>
 * <li>MedMNIST (https://medmnist.com/): NumPy {@code .npz}, a zip of {@code .npy} arrays in the
 *     format of https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html.</li>
 * <li>Image folders: one directory per class, as torchvision's {@code ImageFolder} reads them, with
 *     {@code Training/} and {@code Testing/} splits as in the Brain Tumor MRI set on Kaggle.</li>
 * </ul>
 *
 * <p>All images are held in memory as bytes (CIFAR-10: 180 MB, MNIST: 55 MB); an image folder is
 * decoded and resized once at load, so choose its {@code size} option with that in mind.
 */
package io.wattlab.trainer.data;
