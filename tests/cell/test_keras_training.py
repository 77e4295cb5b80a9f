"""Both ways of training the Keras ResNet, in both flavours.

(a) model.fit on real data (sklearn digits) must learn: >= 95 % test accuracy.
(b) a raw tf1 Session loop over the Keras model, with a tf1.train optimizer: BN moving
    statistics only move when the train op depends on the model's updates and the learning
    phase is fed as 1.  The two classic pitfalls are shown against closed-form/numpy
    references: without the updates the statistics stay exactly at their initial values;
    without feeding the learning phase, BN silently normalises with the moving statistics
    (inference mode) although the session is "training".
"""
import numpy as np
from keras_fixtures import DIGIT_SHAPE, bn_layer_count, small_cifar_arch

from compat import keras as ck
from compat import tf1
from resnet_core import keras_model as km
from resnet_core.arch import resnet_arch

pytest_plugins = ("keras_fixtures",)  # the flavour / keras_sess fixtures


def test_fit_learns_digits(flavour, digits):
    result = km.keras_train(small_cifar_arch(), flavour, digits, epochs=6, batch_size=64,
                            learning_rate=0.1, seed=0, threads=2)
    assert result["test_accuracy"] >= 0.95, result


def _bn_stats(model, sess):
    weights = km.keras_weights_by_graph_name(model)
    names = sorted(n for n in weights if n.endswith(("moving_mean", "moving_variance")))
    return dict(zip(names, sess.run([weights[n] for n in names])))


def _moved(stats, initial):
    return sorted(n for n in stats if np.abs(stats[n] - initial[n]).max() > 1e-4)


def test_raw_session_loop_needs_model_updates(flavour, keras_sess, digits):
    arch = small_cifar_arch()
    model = km.build_keras_model(arch, flavour, DIGIT_SHAPE)
    labels = tf1.placeholder(tf1.int32, [None], name="labels")
    loss, step, step_with_updates = km.raw_session_train_op(model, flavour, labels,
                                                            tf1.train.MomentumOptimizer(0.05, 0.9))
    keras_sess.run(tf1.global_variables_initializer())
    feed = {model.inputs[0]: digits[0][:32], labels: digits[1][:32], ck.learning_phase(flavour): 1}
    kernel = model.get_layer("stem_conv").weights[0]
    kernel0 = keras_sess.run(kernel)
    initial = {n: np.full_like(v, 0.0 if n.endswith("moving_mean") else 1.0)
               for n, v in _bn_stats(model, keras_sess).items()}
    assert len(initial) == 2 * bn_layer_count(arch)

    # Pitfall: the optimizer step alone trains the weights but never touches the statistics.
    losses = [keras_sess.run([loss, step], feed)[0] for _ in range(3)]
    assert losses[-1] < losses[0] and np.abs(keras_sess.run(kernel) - kernel0).max() > 0
    stats = _bn_stats(model, keras_sess)
    assert _moved(stats, initial) == []
    for n in stats:
        np.testing.assert_array_equal(stats[n], initial[n])

    # Fix: depend on the model's update ops -> every BN layer's statistics move.
    for _ in range(2):
        keras_sess.run(step_with_updates, feed)
    assert _moved(_bn_stats(model, keras_sess), initial) == sorted(initial)


def _numpy_bn(x, mean, var, eps):
    return (x - mean) / np.sqrt(var + eps)


def test_unfed_learning_phase_silently_means_inference(flavour, keras_sess, digits):
    model = km.build_keras_model(small_cifar_arch(), flavour, DIGIT_SHAPE)
    keras_sess.run(tf1.global_variables_initializer())
    fetch = [model.get_layer("stem_conv").output, model.get_layer("stem_bn").output]
    x = digits[0][:32]
    conv, bn_unfed = keras_sess.run(fetch, {model.inputs[0]: x})
    _, bn_train = keras_sess.run(fetch, {model.inputs[0]: x, ck.learning_phase(flavour): 1})
    eps = km.BN_EPSILON
    # At initialisation gamma=1, beta=0, moving mean/variance 0/1.
    inference = _numpy_bn(conv, 0.0, 1.0, eps)
    training = _numpy_bn(conv, conv.mean(axis=(0, 1, 2)), conv.var(axis=(0, 1, 2)), eps)
    assert np.abs(inference - training).max() > 0.1  # the two modes are distinguishable here
    np.testing.assert_allclose(bn_unfed, inference, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn_train, training, rtol=1e-4, atol=1e-4)


def test_tower_stack_shares_keras_layers(flavour, keras_sess):
    """Two towers under the trainer's scoping: one set of weights (the paper's 269,722 for RGB
    input), all under 'resnet/', no moving statistics among the trainables, tower-0 BN updates
    in UPDATE_OPS.  The explicit tf.device is what broke standalone Keras BN on TF 1.14+."""
    model_fn = km.tower_model_builder(flavour)(resnet_arch("resnet20"), "layers", "NHWC")
    images = tf1.placeholder(tf1.float32, (4, 8, 8, 3))
    for i in range(2):
        with tf1.device("/cpu:0"), tf1.name_scope("tower_%d" % i) as scope:
            with tf1.variable_scope("resnet", reuse=i > 0):
                model_fn(images, True)
        if i == 0:
            tower0_updates = tf1.get_collection(tf1.GraphKeys.UPDATE_OPS, scope)
    trainable = tf1.trainable_variables()
    assert sum(int(np.prod(v.get_shape().as_list())) for v in trainable) == 269722
    assert all(v.name.startswith("resnet/") for v in trainable)
    assert not [v for v in trainable if "moving_" in v.name]
    assert len(tower0_updates) == 2 * 19  # mean and variance of 19 BN layers (6n+1, n=3)
