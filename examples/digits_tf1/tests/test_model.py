"""The graph itself: parameter count, shared weights, BN update wiring and EMA, against numpy."""
import numpy as np
import pytest
import tensorflow as tf
from digits_tf1 import model, train

tf1 = tf.compat.v1


@pytest.fixture
def graph(splits):
    return train.TrainGraph(train.Config(batch_size=32, seed=3), splits[0])


def test_parameter_count_matches_layer_shapes(graph):
    with graph.graph.as_default():
        variables = tf1.trainable_variables()
    counted = sum(int(np.prod(v.shape.as_list())) for v in variables)
    # conv 3*3*1*16 + BN 2*16, conv 3*3*16*32 + BN 2*32, dense 128*64+64, dense 64*10+10
    assert counted == model.expected_parameter_count() == 13754


def test_eval_tower_shares_the_training_weights(graph):
    with graph.graph.as_default():
        names = [v.op.name for v in tf1.global_variables() if v.op.name.startswith(model.SCOPE + "/")]
    assert len(names) == len(set(names))
    assert sorted(n for n in names if "ExponentialMovingAverage" not in n and "Momentum" not in n) == sorted(
        "digits_cnn/%s/%s" % (layer, v) for layer, vs in [
            ("conv1", ["kernel", "bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_variance"]),
            ("conv2", ["kernel", "bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_variance"]),
            ("fc1", ["weights", "bias"]), ("fc2", ["weights", "bias"])] for v in vs)


def test_weight_decay_counts_each_weight_matrix_once(graph):
    with graph.graph.as_default():
        weights = tf1.get_collection(tf1.GraphKeys.WEIGHTS)
    assert sorted(w.op.name for w in weights) == [
        "digits_cnn/conv1/kernel", "digits_cnn/conv2/kernel", "digits_cnn/fc1/weights", "digits_cnn/fc2/weights"]


def test_one_step_moves_bn_statistics_like_numpy(graph):
    """moving_mean <- m*mean + (1-m)*batch_mean; the variance update uses the unbiased batch variance."""
    pre_bn = graph.graph.get_tensor_by_name("digits_cnn/conv1/Conv2D:0")
    with graph.graph.as_default():
        stats = {v.op.name.split("/")[-1]: v for v in tf1.global_variables()
                 if v.op.name.startswith("digits_cnn/conv1/bn/moving_")}
    assert len(graph.update_ops) == 4  # mean + variance for each BN layer, training tower only
    with graph.session() as sess:
        before = sess.run(stats)
        _, activations = sess.run([graph.train_op, pre_bn])
        after = sess.run(stats)
    m = model.BN_MOMENTUM
    batch_mean = activations.mean(axis=(0, 1, 2))
    batch_var = activations.var(axis=(0, 1, 2), ddof=1)
    np.testing.assert_allclose(before["moving_mean"], 0.0)
    np.testing.assert_allclose(after["moving_mean"], (1 - m) * batch_mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(after["moving_variance"], m * 1.0 + (1 - m) * batch_var, rtol=1e-4)


def test_ema_shadows_follow_the_post_step_weights(graph):
    """shadow_t = d*shadow_{t-1} + (1-d)*w_t with w_t the weight *after* step t, from shadow_0 = w_0."""
    decay = graph.config.ema_decay
    with graph.graph.as_default():
        weight = [v for v in tf1.trainable_variables() if v.op.name == "digits_cnn/fc2/weights"][0]
        shadow = graph.ema.average(weight)
    assert shadow.op.name == "digits_cnn/fc2/weights/ExponentialMovingAverage"
    with graph.session() as sess:
        expected = sess.run(weight)
        np.testing.assert_array_equal(sess.run(shadow), expected)
        for _ in range(3):
            sess.run(graph.train_op)
            w, s = sess.run([weight, shadow])
            expected = decay * expected + (1 - decay) * w
            np.testing.assert_allclose(s, expected, rtol=1e-5, atol=1e-7)
        assert not np.allclose(s, w)
