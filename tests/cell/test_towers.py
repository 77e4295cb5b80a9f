"""Tower training (seed-spec §6): averaged towers == one device on the whole batch."""
import numpy as np
import pytest
from stack_helpers import model_fn, placeholders

from compat import session_config, tf1
from resnet_core.towers import average_gradients, build_towers

BATCH = 8
WD = 1e-3
DEVICES = ["/cpu:0", "/cpu:1"]


def logsumexp_ce(logits, labels):
    z = logits - logits.max(axis=1, keepdims=True)
    return np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(labels)), labels])


@pytest.fixture(scope="module")
def towers(digits):
    """Two inference-mode towers plus, on the same variables, the single-device whole-batch model."""
    graph = tf1.Graph()
    with graph.as_default():
        tf1.set_random_seed(1)
        images, labels = placeholders(BATCH)  # fed, so Grappler cannot constant-fold onto CPU:0
        opt = tf1.train.GradientDescentOptimizer(0.1)
        out = build_towers(images, labels, model_fn(), DEVICES, opt, weight_decay=WD, training=False)
        averaged = average_gradients(out.tower_grads)
        variables = [v for _, v in averaged]
        # Reference: one model on the whole batch; its loss is written out here, not taken from towers.
        with tf1.device("/cpu:0"), tf1.name_scope("single"):
            with tf1.variable_scope("resnet", reuse=True):
                logits = model_fn()(images, False)
            ce = tf1.reduce_mean(tf1.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
            kernels = [v for v in variables if v.op.name.endswith("/kernel")]
            l2 = tf1.add_n([tf1.reduce_sum(tf1.square(k)) for k in kernels]) * (WD / 2.0)
            reference = tf1.gradients(ce + l2, variables)
        feed = {images: digits[0][:BATCH], labels: digits[1][:BATCH]}
        metadata = tf1.RunMetadata()
        with tf1.Session(graph=graph, config=session_config(threads=1, cpu_devices=2)) as sess:
            sess.run(tf1.global_variables_initializer())
            got, want, tower_losses, full_logits, kernel_values = sess.run(
                [[g for g, _ in averaged], reference, out.tower_losses, logits, kernels], feed,
                options=tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE), run_metadata=metadata)
        model_vars = sorted((v.op.name, tuple(v.shape.as_list())) for v in tf1.global_variables())
    return dict(got=got, want=want, names=[v.op.name for v in variables], tower_losses=tower_losses,
                logits=full_logits, kernels=kernel_values, labels=feed[labels], metadata=metadata,
                variables=model_vars)


def test_averaged_tower_gradients_equal_whole_batch_gradients(towers):
    assert len(towers["got"]) == len(towers["want"]) > 0
    for name, g, r in zip(towers["names"], towers["got"], towers["want"]):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-7, err_msg=name)


def test_mean_tower_loss_counts_weight_decay_once(towers):
    ce = logsumexp_ce(towers["logits"].astype(np.float64), towers["labels"])
    l2 = WD * sum(np.sum(k.astype(np.float64) ** 2) / 2.0 for k in towers["kernels"])
    np.testing.assert_allclose(np.mean(towers["tower_losses"]), ce + l2, rtol=1e-5)
    assert l2 > 1e-3 * ce  # the decay term is large enough for a missing or doubled copy to show


def test_towers_share_exactly_the_single_model_variables(towers):
    graph = tf1.Graph()
    with graph.as_default():
        images, _ = placeholders(BATCH)
        with tf1.variable_scope("resnet"):
            model_fn()(images, False)
        single = sorted((v.op.name, tuple(v.shape.as_list())) for v in tf1.global_variables())
    assert towers["variables"] == single


def test_each_tower_runs_on_its_own_device(towers):
    """step_stats of a traced run; '/host:CPU' is 1.14+'s duplicate host view, '.../_N' are the
    _Send/_Recv nodes that carry a tensor (e.g. the shared decay term) to the other device."""
    seen = {0: set(), 1: set()}
    for dev in towers["metadata"].step_stats.dev_stats:
        if "/host:" in dev.device.lower():
            continue
        for node in dev.node_stats:
            for i in seen:
                if node.node_name.startswith("tower_%d/" % i) and not node.node_name.split("/")[-1].startswith("_"):
                    seen[i].add(dev.device.upper().split("/")[-1].replace("DEVICE:", ""))
    assert seen[0] == {"CPU:0"}, seen
    assert seen[1] == {"CPU:1"}, seen
