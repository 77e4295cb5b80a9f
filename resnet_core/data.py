"""Inputs for training: sklearn's bundled digits (real, offline) and seeded synthetic images.

Arrays are NHWC float32 in [0, 1] with int32 labels whatever the model's data_format:
the model builder owns layout conversion, so every input source stays interchangeable.
"""
import numpy as np

DIGITS_CLASSES = 10


def load_digits_split(test_fraction=0.2, seed=0):
    """Fixed stratified split, done here in numpy so every cell (any sklearn) gets the same rows.

    Returns (x_train, y_train, x_test, y_test): x [N, 8, 8, 1] float32 in [0, 1], y int32.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[..., None]
    y = bunch.target.astype(np.int32)
    rng = np.random.RandomState(seed)
    test_idx = []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test_idx.append(members[:int(round(test_fraction * len(members)))])
    test_mask = np.zeros(len(y), dtype=bool)
    test_mask[np.concatenate(test_idx)] = True
    train_order = rng.permutation(np.flatnonzero(~test_mask))
    test_order = np.flatnonzero(test_mask)
    return x[train_order], y[train_order], x[test_order], y[test_order]


def synthetic_arrays(count, shape, num_classes, seed=0):
    """Random images/labels: for throughput and plumbing checks, not for learning."""
    rng = np.random.RandomState(seed)
    x = rng.uniform(0.0, 1.0, size=(count,) + tuple(shape)).astype(np.float32)
    y = rng.randint(0, num_classes, size=count).astype(np.int32)
    return x, y


def load_dataset(name, seed=0, image_shape=(32, 32, 3), num_classes=10, synthetic_count=512):
    """(x_train, y_train, x_test, y_test, num_classes) for a dataset name ('digits' | 'synthetic')."""
    if name == "digits":
        return load_digits_split(seed=0) + (DIGITS_CLASSES,)
    if name == "synthetic":
        x, y = synthetic_arrays(synthetic_count, image_shape, num_classes, seed)
        xt, yt = synthetic_arrays(max(synthetic_count // 4, 1), image_shape, num_classes, seed + 1)
        return x, y, xt, yt, num_classes
    raise ValueError("unknown dataset %r (expected 'digits' or 'synthetic')" % (name,))


def make_input(x, y, batch_size, repeat=True, shuffle_seed=None):
    """A batched tf.data pipeline over in-memory arrays.

    drop_remainder keeps the static batch size, which tf.split over towers needs.
    shuffle_seed=None means no shuffling (evaluation order).
    """
    from compat import AUTOTUNE, tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)


def cached_batch_input(batch_size, shape, num_classes, seed=0):
    """One synthetic batch repeated forever, for benchmarks: input costs ~nothing per step."""
    from compat import tf

    x, y = synthetic_arrays(batch_size, shape, num_classes, seed)
    return tf.data.Dataset.from_tensors((x, y)).cache().repeat()
