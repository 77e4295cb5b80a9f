"""The data: scikit-learn's bundled digits (1797 real 8x8 scans, no download), split and scaled."""
import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits

tf1 = tf.compat.v1  # the TF1 graph API under its 1.13+ name (TF 1.12 has no tf.compat.v1)

NUM_CLASSES = 10
IMAGE_SIZE = 8
TEST_FRACTION = 0.2

# tf.data.experimental.AUTOTUNE appeared in TF 1.13 (1.12 only had tf.contrib.data.AUTOTUNE).
AUTOTUNE = tf.data.experimental.AUTOTUNE


class Split(object):
    """Images as float32 NHWC in [0, 1], labels as int64."""

    def __init__(self, images, labels):
        assert len(images) == len(labels)
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)


def load(seed=0, test_fraction=TEST_FRACTION):
    """(train, test) Splits of the digits, stratified per class so both halves see every digit."""
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., np.newaxis]  # pixel values are 0..16
    labels = digits.target.astype(np.int64)
    rng = np.random.RandomState(seed)
    train_idx, test_idx = [], []
    for cls in range(NUM_CLASSES):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        n_test = int(round(len(idx) * test_fraction))
        test_idx.extend(idx[:n_test])
        train_idx.extend(idx[n_test:])
    train_idx, test_idx = rng.permutation(train_idx), np.sort(test_idx)
    return Split(images[train_idx], labels[train_idx]), Split(images[test_idx], labels[test_idx])


def train_dataset(split, batch_size, seed=0):
    """An endless shuffled stream of full batches, prefetched."""
    ds = tf.data.Dataset.from_tensor_slices((split.images, split.labels))
    ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(batch_size, drop_remainder=True)
    return ds.prefetch(AUTOTUNE)


def make_iterator(dataset):
    """An initializable iterator (`tf.compat.v1.data`, TF 1.13+; the method form warns from 1.14)."""
    return tf1.data.make_initializable_iterator(dataset)
