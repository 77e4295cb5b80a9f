"""The arch.py ResNet as a Keras Model, in standalone Keras or tf.keras.

The network is never described here: `build_keras_model` walks `arch.build` with a
backend whose primitives are Keras layers, so the Keras models and the graph model
(`graph_model.build_logits`) are the same network by construction and their weights
can be matched name-by-name (`graph_var_to_keras`, `copy_graph_weights_to_keras`).

Naming (keras_layers): arch name 'stage1/block0/conv1' is Keras layer
'stage1_block0_conv1', so graph variable 'stage1/block0/conv1/kernel' matches that
layer's weight 'kernel'.

Known, intended difference between the flavours (tested in test_keras_parity.py):
standalone Keras BN updates its moving statistics with
`assign_moving_average(..., zero_debias=True)`.  After one training step from
moving_mean = 0 it therefore holds the batch mean itself, where tf.keras and every
TF BN hold (1 - momentum) * batch mean; and each standalone BN layer creates 4 extra
non-trainable variables (`biased` and `local_step` for mean and variance) that are not
layer weights and do not exist in TF checkpoints.  Inference with equal weights is
identical; only the training-time statistics trajectory differs.
"""
import contextlib
import time

import numpy as np

from compat import keras as ck
from compat import load_variables, session_config, tf1
from resnet_core import arch as arch_lib
from resnet_core.keras_layers import (  # noqa: F401
    BN_EPSILON,
    BN_MOMENTUM,
    KerasLayersBackend,
    arch_layer_name,
    keras_layer_name,
    pad_shortcut_class,
    tower_model_builder,
)

FLAVOURS = ck.FLAVOURS
INPUT_NAME = "images"


# ----------------------------------------------------------------------------- names
def graph_var_to_keras(var_name):
    """Graph variable name ('stage1/block0/bn1/gamma[:0]') -> (keras layer name, weight name)."""
    var_name = var_name.split(":")[0]
    layer, _, weight = var_name.rpartition("/")
    return keras_layer_name(layer), weight


def keras_weight_to_graph(layer_name, weight):
    """(keras layer name, weight) -> graph variable name (no ':0')."""
    return "%s/%s" % (arch_layer_name(layer_name), _short_weight_name(weight))


def _short_weight_name(weight):
    """'stage1_block0_bn1/moving_mean:0' or a Variable -> 'moving_mean'."""
    name = weight if isinstance(weight, str) else weight.name
    return name.split(":")[0].rsplit("/", 1)[-1]


def keras_weights_by_graph_name(model):
    """{graph variable name: keras weight variable} for every weight of the arch layers."""
    out = {}
    for layer in model.layers:
        for w in layer.weights:
            if layer.name == INPUT_NAME:
                continue
            out[keras_weight_to_graph(layer.name, w)] = w
    return out


def custom_objects(flavour):
    """What load_model needs to rebuild a model saved by build_keras_model."""
    return {"PadShortcut": pad_shortcut_class(flavour), "sparse_softmax_logits_loss": sparse_softmax_logits_loss}


# ----------------------------------------------------------------------------- builder
def build_keras_model(arch, flavour, input_shape, data_format="channels_last",
                      bn_momentum=None, bn_epsilon=None, input_tensor=None):
    """A Keras Model (logits output) for `arch` ('resnet20' or an arch.Arch) in `flavour`.

    input_shape excludes the batch axis and follows data_format.  BN momentum/epsilon
    default to the graph model's, so the flavours differ only where Keras itself does.
    """
    if isinstance(arch, str):
        arch = arch_lib.resnet_arch(arch)
    backend = KerasLayersBackend(flavour, data_format,
                                  BN_MOMENTUM if bn_momentum is None else bn_momentum,
                                  BN_EPSILON if bn_epsilon is None else bn_epsilon)
    inputs = backend.layers.Input(shape=tuple(input_shape), name=INPUT_NAME, tensor=input_tensor)
    logits = arch_lib.build(arch, inputs, backend)
    return ck.models(flavour).Model(inputs, logits, name=arch.name)


def load_keras_model(path, flavour):
    """load_model for an h5 file written by model.save(), with our custom layer registered."""
    return ck.models(flavour).load_model(path, custom_objects=custom_objects(flavour))


# ----------------------------------------------------------------------------- sessions
@contextlib.contextmanager
def keras_session(flavour, threads=None):
    """A fresh graph + session that `flavour`'s Keras uses as its global session.

    Both Keras libraries keep module-global state (session, per-graph learning phase,
    layer-name counters); clearing it before and after keeps tests and runs independent.
    """
    ck.clear_session(flavour)
    graph = tf1.Graph()
    config = session_config(threads=threads)
    try:
        with graph.as_default():
            with tf1.Session(graph=graph, config=config) as sess:
                ck.set_session(flavour, sess)
                yield sess
    finally:
        ck.set_session(flavour, None)
        ck.clear_session(flavour)


# ----------------------------------------------------------------------------- weights
def copy_graph_weights_to_keras(values, model, sess):
    """Load {graph variable name: ndarray} into `model` by name mapping.

    Every model weight must be covered (extra graph entries such as optimizer slots or
    global_step are ignored), so a silent partial copy cannot pass a parity check.
    """
    weights = keras_weights_by_graph_name(model)
    missing = sorted(set(weights) - set(values))
    if missing:
        raise KeyError("no graph value for keras weights: %s" % (missing,))
    load_variables(sess, {var: values[name] for name, var in weights.items()})


# ----------------------------------------------------------------------------- training
def bn_updates(model, flavour):
    """The moving-statistics update ops of `model`.

    Keras BN (both flavours) never adds to UPDATE_OPS: a raw-session train op must
    depend on these explicitly, and where a Model exposes them differs by flavour.
    """
    return ck.model_updates(flavour, model)


def raw_session_train_op(model, flavour, labels, optimizer):
    """(loss, step, step_with_updates) for a tf1 optimizer over the Keras model's logits.

    `step` alone is the classic pitfall (trains the weights, never moves the BN moving
    statistics); `step_with_updates` also runs the model's update ops.  Either way the
    learning phase must be fed as 1, or BN normalises with the moving statistics.
    """
    loss = tf1.reduce_mean(tf1.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=model.output))
    step = optimizer.minimize(loss, var_list=model.trainable_weights)
    return loss, step, tf1.group(step, *bn_updates(model, flavour))


def sparse_softmax_logits_loss(y_true, y_pred):
    """Cross-entropy on logits with integer labels, the graph trainer's loss.

    A module-level function (not a closure) so an h5 file of a compiled model can name it
    and load_model can find it in custom_objects.  Keras hands labels as float [N, 1].
    """
    labels = tf1.cast(tf1.reshape(y_true, [-1]), tf1.int32)
    return tf1.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=y_pred)


def compile_for_fit(model, flavour, learning_rate=0.1, momentum=0.9):
    """Compile with the flavour's SGD+momentum and sparse softmax cross-entropy on logits."""
    model.compile(optimizer=ck.optimizers(flavour).SGD(lr=learning_rate, momentum=momentum),
                  loss=sparse_softmax_logits_loss, metrics=["sparse_categorical_accuracy"])
    return model


def accuracy(model, x, y, batch_size=256):
    """Top-1 accuracy of the model's logits (inference mode)."""
    logits = model.predict(x, batch_size=batch_size)
    return float(np.mean(np.argmax(logits, axis=1) == y))


def keras_train(model_name, flavour, dataset_arrays, epochs, batch_size, learning_rate=0.1, momentum=0.9,
                seed=0, bn_momentum=None, data_format="channels_last", threads=None):
    """model.fit path of the train CLI: returns {'test_accuracy', 'seconds', 'history'}.

    dataset_arrays: (x_train, y_train, x_test, y_test) NHWC float32 / int labels.
    """
    x, y, xt, yt = dataset_arrays
    if data_format == "channels_first":
        x, xt = x.transpose(0, 3, 1, 2), xt.transpose(0, 3, 1, 2)
    with keras_session(flavour, threads=threads):
        tf1.set_random_seed(seed)
        model = build_keras_model(model_name, flavour, x.shape[1:], data_format, bn_momentum=bn_momentum)
        compile_for_fit(model, flavour, learning_rate, momentum)
        np.random.seed(seed)
        start = time.time()
        history = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0)
        seconds = time.time() - start
        return {"test_accuracy": accuracy(model, xt, yt), "seconds": seconds,
                "history": {k: [float(v) for v in vs] for k, vs in history.history.items()}}


def keras_fit_throughput(model_name, flavour, batch_size, steps, image_shape=(32, 32, 3), num_classes=10,
                         warmup_steps=2, data_format="channels_last", threads=None, seed=0):
    """Images/sec of model.fit on synthetic data (after warm-up), comparable to the graph bench.

    One epoch of `steps` batches from in-memory numpy arrays: that is how fit is used,
    including its per-batch feed_dict and callback overhead.
    """
    rng = np.random.RandomState(seed)
    shape = tuple(image_shape) if data_format == "channels_last" else (image_shape[2],) + tuple(image_shape[:2])
    x = rng.uniform(0.0, 1.0, size=(batch_size * steps,) + shape).astype(np.float32)
    y = rng.randint(0, num_classes, size=batch_size * steps).astype(np.int32)
    arch = arch_lib.resnet_arch(model_name, num_classes)
    with keras_session(flavour, threads=threads):
        tf1.set_random_seed(seed)
        model = build_keras_model(arch, flavour, shape, data_format)
        compile_for_fit(model, flavour)
        model.fit(x[:batch_size * warmup_steps], y[:batch_size * warmup_steps], batch_size=batch_size,
                  epochs=1, verbose=0)
        start = time.time()
        model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        return batch_size * steps / (time.time() - start)
