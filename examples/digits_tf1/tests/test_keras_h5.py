"""Standalone Keras: a trained model survives an HDF5 save/load with outputs, weights and optimizer state."""
import numpy as np
import pytest
from digits_tf1 import keras_mlp


@pytest.fixture(scope="module")
def fitted(splits):
    keras_mlp.fresh_session(seed=0)
    model = keras_mlp.build()
    history = keras_mlp.fit(model, splits[0], epochs=15)
    yield model, history
    keras_mlp.fresh_session()  # leave no Keras graph behind for later modules


def test_fit_learns_the_digits(fitted, splits):
    model, history = fitted
    losses = history.history["loss"]
    assert losses[-1] < losses[0] / 4, losses
    assert keras_mlp.accuracy(model, splits[1]) >= 0.93


def test_h5_round_trip_keeps_outputs_weights_and_optimizer(fitted, splits, tmp_path):
    model, _ = fitted
    path = tmp_path / "digits_mlp.h5"
    keras_mlp.save(model, path)
    loaded = keras_mlp.load(path)

    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    for ours, theirs in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_allclose(loaded.predict(splits[1].images), model.predict(splits[1].images), rtol=0, atol=1e-6)
    np.testing.assert_allclose(loaded.evaluate(splits[1].images, splits[1].labels, verbose=0),
                               model.evaluate(splits[1].images, splits[1].labels, verbose=0), rtol=1e-6)


def test_h5_resume_continues_the_optimizer_but_not_bn_debiasing(fitted, splits, tmp_path):
    """Adam's moments are in the file: one more step on the same batch moves the weights identically.

    Keras 2.2's BatchNormalization is zero-debiased: each moving statistic has hidden `biased` and
    `local_step` variables that are not layer weights, so the HDF5 file does not hold them. The first
    training step after loading therefore restarts the debiasing and sets moving_mean to the batch
    mean itself, while the original model keeps averaging.
    """
    model, _ = fitted
    path = tmp_path / "digits_mlp.h5"
    keras_mlp.save(model, path)
    loaded = keras_mlp.load(path)
    images, labels = splits[0].images[:64], splits[0].labels[:64]
    kernel = model.get_layer("hidden").get_weights()[0]
    batch_mean = (images.reshape(len(images), -1) @ kernel).mean(axis=0)
    old_mean = model.get_layer("bn").get_weights()[2]

    model.train_on_batch(images, labels)
    loaded.train_on_batch(images, labels)

    trainable = [w.name for w in model.trainable_weights]
    for name, ours, theirs in zip(trainable, keras_mlp.trainable_values(model), keras_mlp.trainable_values(loaded)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5, err_msg=name)
    resumed_mean = loaded.get_layer("bn").get_weights()[2]
    continued_mean = model.get_layer("bn").get_weights()[2]
    np.testing.assert_allclose(resumed_mean, batch_mean, rtol=1e-4, atol=1e-4)
    # the original only nudges its average (momentum 0.99); the resumed one jumped to this batch
    assert np.abs(continued_mean - old_mean).max() < np.abs(resumed_mean - old_mean).max() / 5
