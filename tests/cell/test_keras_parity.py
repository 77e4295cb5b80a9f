"""Same weights, same logits: graph model vs tf.keras vs standalone Keras.

The graph model (graph_model.build_logits, tf1 variables) is built once per architecture
with He-initialised kernels and random BN parameters/statistics; its variables are copied
by name into each Keras flavour (graph 'stage1/block0/bn1/gamma' -> layer
'stage1_block0_bn1' weight 'gamma'), and inference logits must agree to 1e-5 relative.

The one intended difference, standalone Keras' zero-debiased moving averages, is checked
against its closed form rather than papered over.
"""
import numpy as np
import pytest
from keras_fixtures import DIGIT_SHAPE, bn_layer_count, random_batch, small_cifar_arch

from compat import keras as ck
from compat import load_variables, session_config, tf1
from resnet_core import arch as arch_lib
from resnet_core import keras_model as km
from resnet_core.graph_model import build_logits

pytest_plugins = ("keras_fixtures",)  # the flavour / keras_sess fixtures

ARCHS = {
    "cifar_v1": (lambda: small_cifar_arch(1), DIGIT_SHAPE),
    "cifar_v2": (lambda: small_cifar_arch(2), DIGIT_SHAPE),
    # ImageNet family (7x7/2 stem, max pool, projection shortcuts): ~10 s for both flavours.
    "resnet18": (lambda: arch_lib.resnet_arch("resnet18", num_classes=10), (32, 32, 3)),
}
SLOW_ARCHS = ("resnet18",)


def _random_bn_values(name, value, rng):
    if name.endswith("gamma"):
        return rng.uniform(0.5, 1.5, value.shape).astype(np.float32)
    if name.endswith(("beta", "moving_mean")):
        return rng.normal(0.0, 0.3, value.shape).astype(np.float32)
    if name.endswith("moving_variance"):
        return rng.uniform(0.5, 2.0, value.shape).astype(np.float32)
    return value


@pytest.fixture(scope="module", params=[pytest.param(a, marks=pytest.mark.slow) if a in SLOW_ARCHS else a
                                        for a in sorted(ARCHS)])
def graph_reference(request):
    """(arch, input shape, images, variable values by name, graph-model inference logits)."""
    make_arch, shape = ARCHS[request.param]
    arch = make_arch()
    images = random_batch(shape, 8, seed=7)
    graph = tf1.Graph()
    with graph.as_default(), tf1.Session(graph=graph, config=session_config(threads=2)) as sess:
        x = tf1.placeholder(tf1.float32, (None,) + tuple(shape))
        logits = build_logits(x, arch, training=False, weight_init_seed=1)
        sess.run(tf1.global_variables_initializer())
        rng = np.random.RandomState(0)
        variables = tf1.global_variables()
        initial = sess.run(variables)
        values = {v.op.name: _random_bn_values(v.op.name, value, rng) for v, value in zip(variables, initial)}
        load_variables(sess, {v: values[v.op.name] for v in variables})
        reference = sess.run(logits, {x: images})
    return arch, shape, images, values, reference


def test_keras_logits_equal_graph_logits(graph_reference, flavour, keras_sess):
    arch, shape, images, values, reference = graph_reference
    model = km.build_keras_model(arch, flavour, shape)
    keras_sess.run(tf1.global_variables_initializer())
    km.copy_graph_weights_to_keras(values, model, keras_sess)
    assert set(km.keras_weights_by_graph_name(model)) == set(values)  # a bijection, nothing left over
    got = model.predict(images)
    assert np.std(reference) > 0.1
    rel = np.abs(got - reference).max() / np.abs(reference).max()
    assert rel <= 1e-5, rel


# First moving_mean after one training step from 0, given the batch mean and momentum m.
# TF's BN (tf.keras, tf.layers): m * 0 + (1 - m) * mean.  Standalone Keras: the zero-debiased
# average biased / (1 - m**1) = mean itself.  Extra variables per BN layer: standalone Keras'
# assign_moving_average(zero_debias=True) adds moving_{mean,variance}/{biased,local_step}.
FIRST_MOVING_MEAN = {"keras": lambda mean, m: mean, "tf.keras": lambda mean, m: (1.0 - m) * mean}
EXTRA_VARIABLES_PER_BN = {"keras": 4, "tf.keras": 0}


def test_zero_debias_is_the_known_difference(flavour, keras_sess, digits):
    arch = small_cifar_arch()
    model = km.build_keras_model(arch, flavour, DIGIT_SHAPE)
    extra = [v for v in tf1.global_variables() if v not in set(model.weights)]
    assert len(extra) == EXTRA_VARIABLES_PER_BN[flavour] * bn_layer_count(arch)
    labels = tf1.placeholder(tf1.int32, [None])
    _, _, step = km.raw_session_train_op(model, flavour, labels, tf1.train.GradientDescentOptimizer(0.01))
    keras_sess.run(tf1.global_variables_initializer())
    conv, _ = keras_sess.run([model.get_layer("stem_conv").output, step],
                             {model.inputs[0]: digits[0][:32], labels: digits[1][:32],
                              ck.learning_phase(flavour): 1})
    moving_mean = keras_sess.run(model.get_layer("stem_bn").weights[2])
    batch_mean = conv.mean(axis=(0, 1, 2))
    assert np.abs(batch_mean).max() > 1e-2
    np.testing.assert_allclose(moving_mean, FIRST_MOVING_MEAN[flavour](batch_mean, km.BN_MOMENTUM),
                               rtol=1e-4, atol=1e-6)
