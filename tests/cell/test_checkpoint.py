"""Checkpoints keep everything training made: BN moving statistics and EMA shadows included."""
import numpy as np
import pytest
from stack_helpers import model_fn, placeholders, record_training

from compat import session_config, tf1
from resnet_core.training import build_training

OPTIONS = dict(learning_rate=0.05, ema_decay=0.5, loss_ema_decay=0.999, weight_decay=1e-4, clip_norm=5.0)


@pytest.fixture(scope="module")
def run(digits, tmp_path_factory):
    return record_training(digits, 3, checkpoint_dir=str(tmp_path_factory.mktemp("ckpt")), batch=8, **OPTIONS)


def restored(checkpoint, build, var_list_fn):
    """Values of every global variable of a fresh graph after restoring `checkpoint`."""
    graph = tf1.Graph()
    with graph.as_default():
        build()
        saver = tf1.train.Saver(var_list_fn())
        variables = tf1.global_variables()
        with tf1.Session(graph=graph, config=session_config(threads=1)) as sess:
            saver.restore(sess, checkpoint)
            return dict(zip([v.op.name for v in variables], sess.run(variables)))


def test_round_trip_restores_every_variable(run):
    kinds = {"moving_mean": 0, "moving_variance": 0, "ExponentialMovingAverage": 0, "Momentum": 0, "avg": 0}
    for name in run.final:
        for kind in kinds:
            kinds[kind] += kind in name.split("/")[-1]
    assert all(kinds.values()), kinds
    moving_means = [n for n in run.final if n.endswith("moving_mean") and "ExponentialMovingAverage" not in n]
    assert all(np.any(run.final[n] != 0.0) for n in moving_means), "BN statistics were never updated"

    def build():
        images, labels = placeholders(8)
        build_training(images, labels, model_fn(), ["/cpu:0"], **OPTIONS)

    values = restored(run.checkpoint, build, tf1.global_variables)
    assert sorted(values) == sorted(run.final)
    for name, value in run.final.items():
        np.testing.assert_array_equal(values[name], value, err_msg=name)


def test_ema_restore_into_eval_graph(run):
    """variables_to_restore(): weights come from their shadows, BN statistics from themselves."""
    def build():
        images, _ = placeholders()
        with tf1.variable_scope("resnet"):
            model_fn()(images, False)

    values = restored(run.checkpoint, build,
                      lambda: tf1.train.ExponentialMovingAverage(OPTIONS["ema_decay"]).variables_to_restore())
    trainable = set(run.names)
    assert set(values) == {n for n in run.final if n.startswith("resnet/") and n.split("/")[-1] in
                           ("kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance")}
    for name, value in values.items():
        source = name + "/ExponentialMovingAverage" if name in trainable else name
        np.testing.assert_array_equal(value, run.final[source], err_msg=name)
    assert any(not np.array_equal(run.final[n], values[n]) for n in trainable)
