import numpy as np
import tensorflow as tf
from digits_tf1 import data

tf1 = tf.compat.v1


def test_split_is_stratified_disjoint_and_scaled(splits):
    train, test = splits
    assert len(train) + len(test) == 1797
    assert 350 <= len(test) <= 370
    assert train.images.shape[1:] == (8, 8, 1) and train.images.dtype == np.float32
    assert train.images.min() == 0.0 and train.images.max() == 1.0
    for split in splits:
        counts = np.bincount(split.labels, minlength=10)
        assert counts.min() > 0.8 * counts.mean()
    # no image row appears in both halves with the same label (sklearn's digits has no exact duplicates)
    train_rows = {(img.tobytes(), lab) for img, lab in zip(train.images, train.labels)}
    assert not any((img.tobytes(), lab) in train_rows for img, lab in zip(test.images, test.labels))


def test_split_is_deterministic(splits):
    again = data.load(seed=0)
    np.testing.assert_array_equal(again[0].labels, splits[0].labels)
    np.testing.assert_array_equal(again[1].images, splits[1].images)


def test_input_pipeline_yields_full_shuffled_batches(splits):
    train, _ = splits
    with tf.Graph().as_default():
        iterator = data.make_iterator(data.train_dataset(train, batch_size=64, seed=1))
        images, labels = iterator.get_next()
        assert images.shape.as_list() == [64, 8, 8, 1]
        with tf1.Session() as sess:
            sess.run(iterator.initializer)
            batches = [sess.run([images, labels]) for _ in range(len(train) // 64 + 3)]
    seen = np.concatenate([b[1] for b in batches])
    assert all(b[0].shape == (64, 8, 8, 1) for b in batches)
    assert not np.array_equal(seen[:64], train.labels[:64])  # shuffled
    assert set(seen) == set(range(10))
