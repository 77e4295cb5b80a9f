"""The network: conv-BN-ReLU-pool x2, then two dense layers, built in TF1 graph style.

Variables are resource variables (`use_resource=True`): their reads are ordered by control
dependencies, so the EMA placed after the optimizer step reads the post-step weights by
construction (tests/test_model.py checks the recurrence).
"""
import tensorflow as tf

from digits_tf1.data import IMAGE_SIZE, NUM_CLASSES

tf1 = tf.compat.v1  # the TF1 graph API under its 1.13+ name (TF 1.12 has no tf.compat.v1)

SCOPE = "digits_cnn"
CONV_FILTERS = (16, 32)
HIDDEN_UNITS = 64
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-3


def _track(weights):
    """Put a weight matrix in WEIGHTS once (AUTO_REUSE hands back the same variable on every call)."""
    if weights.name not in {w.name for w in tf1.get_collection(tf1.GraphKeys.WEIGHTS)}:
        tf1.add_to_collection(tf1.GraphKeys.WEIGHTS, weights)
    return weights


def _conv_bn_relu(x, filters, training, name):
    in_channels = int(x.shape[-1])
    with tf1.variable_scope(name):
        kernel = _track(tf1.get_variable("kernel", [3, 3, in_channels, filters],
                                         initializer=tf1.initializers.variance_scaling(scale=2.0)))
        x = tf.nn.conv2d(x, kernel, strides=[1, 1, 1, 1], padding="SAME")
        # tf.layers BN registers its moving-statistics updates in UPDATE_OPS; the train op
        # must depend on them (see train.build_train_op).
        x = tf1.layers.batch_normalization(x, momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                                           training=training, name="bn")
        x = tf.nn.relu(x)
        return tf.nn.max_pool(x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID")


def _dense(x, units, name):
    with tf1.variable_scope(name):
        weights = _track(tf1.get_variable("weights", [int(x.shape[-1]), units],
                                          initializer=tf1.glorot_uniform_initializer()))
        bias = tf1.get_variable("bias", [units], initializer=tf1.zeros_initializer())
        return tf.matmul(x, weights) + bias


def logits(images, training):
    """Class scores for NHWC images [N, 8, 8, 1]. Call again (training or not) to share the weights."""
    with tf1.variable_scope(SCOPE, reuse=tf1.AUTO_REUSE, use_resource=True):
        x = images
        for i, filters in enumerate(CONV_FILTERS):
            x = _conv_bn_relu(x, filters, training, "conv%d" % (i + 1))
        side = IMAGE_SIZE // 2 ** len(CONV_FILTERS)
        x = tf.reshape(x, [-1, side * side * CONV_FILTERS[-1]])
        x = tf.nn.relu(_dense(x, HIDDEN_UNITS, "fc1"))
        return _dense(x, NUM_CLASSES, "fc2")


def expected_parameter_count():
    """Trainable parameters of the network, from the layer shapes (convs have no bias; BN has gamma, beta)."""
    total, channels = 0, 1
    for filters in CONV_FILTERS:
        total += 3 * 3 * channels * filters + 2 * filters
        channels = filters
    flat = (IMAGE_SIZE // 2 ** len(CONV_FILTERS)) ** 2 * CONV_FILTERS[-1]
    return total + flat * HIDDEN_UNITS + HIDDEN_UNITS + HIDDEN_UNITS * NUM_CLASSES + NUM_CLASSES


def weight_decay_loss(scale):
    """L2 penalty scale * sum(w^2) / 2 over conv kernels and dense weights (no biases, no BN)."""
    weights = tf1.get_collection(tf1.GraphKeys.WEIGHTS, scope=SCOPE)
    return scale * tf.add_n([tf.nn.l2_loss(w) for w in weights])
