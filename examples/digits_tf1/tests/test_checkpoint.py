"""tf.train.Saver round trips: a fresh graph restored from the checkpoint computes the same logits."""
import os

import numpy as np
import tensorflow as tf
from digits_tf1 import train

tf1 = tf.compat.v1


def test_restored_graph_reproduces_the_logits(trained, splits):
    with train.Predictor(trained["checkpoint"]) as restored:
        logits = restored.logits(splits[1].images)
    np.testing.assert_allclose(logits, trained["test_logits"], rtol=1e-6, atol=1e-6)
    assert train.accuracy(logits, splits[1].labels) == trained["test_accuracy"]


def test_checkpoint_holds_weights_moving_statistics_and_shadows(trained):
    reader = tf1.train.NewCheckpointReader(trained["checkpoint"])
    stored = reader.get_variable_to_shape_map()
    assert stored["global_step"] == []
    assert reader.get_tensor("global_step") == trained["config"].steps
    with train.Predictor(trained["checkpoint"]) as restored:
        values = restored.variables()
    for name, value in values.items():
        np.testing.assert_array_equal(value, reader.get_tensor(name))
    moving_mean = reader.get_tensor("digits_cnn/conv1/bn/moving_mean")
    assert np.any(moving_mean != 0.0)  # the BN updates ran during training
    kernel = reader.get_tensor("digits_cnn/fc2/weights")
    shadow = reader.get_tensor("digits_cnn/fc2/weights/ExponentialMovingAverage")
    assert kernel.shape == shadow.shape and not np.array_equal(kernel, shadow)


def test_ema_predictor_loads_the_shadows_into_the_weights(trained):
    reader = tf1.train.NewCheckpointReader(trained["checkpoint"])
    with train.Predictor(trained["checkpoint"], use_ema=True) as ema:
        values = ema.variables()
    for name, value in values.items():
        if "moving_" in name:  # BN statistics are not averaged: restored under their own names
            np.testing.assert_array_equal(value, reader.get_tensor(name))
        else:
            np.testing.assert_array_equal(value, reader.get_tensor(name + "/ExponentialMovingAverage"))


def test_latest_checkpoint_finds_the_saved_step(trained):
    directory = os.path.dirname(trained["checkpoint"])
    assert tf1.train.latest_checkpoint(directory) == trained["checkpoint"]
    assert trained["checkpoint"].endswith("model.ckpt-%d" % trained["config"].steps)
