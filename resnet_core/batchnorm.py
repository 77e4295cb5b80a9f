"""Every batch-norm API of the notes behind one switch, with one update contract.

Contract (all implementations): training mode normalises with the batch statistics and
creates ops that update moving_mean/moving_variance; inference mode normalises with the
moving statistics; the update ops end up in tf1.GraphKeys.UPDATE_OPS, so Recipe A
(`control_dependencies(get_collection(UPDATE_OPS))` around the train op) is the only
thing a trainer has to do.  Nothing updates the moving statistics unless the train op
depends on those ops: that is the classic pitfall and tests/cell/test_batchnorm.py proves it.

`momentum` is the decay of the moving averages (TF convention):
    moving = momentum * moving + (1 - momentum) * batch_statistic

Implementations (IMPLEMENTATIONS):
  layers      tf.layers.BatchNormalization (class).  DEFAULT: the notes choose
              tf.layers.batch_normalization, but on 1.13+ that function carries a decorator
              deprecation notice (even as tf.compat.v1.layers.batch_normalization) and on 1.15
              an internal Layer.apply notice; the class is the same layer, silent, with the
              same variables and UPDATE_OPS behaviour.
  layers_fn   tf.layers.batch_normalization (the notes' spelling; noisy on 1.13+, see above).
  tf.keras    tf.keras.layers.BatchNormalization.  PITFALL: it never adds its updates to
              UPDATE_OPS in graph mode (only to layer.updates); we add them explicitly.
  keras       standalone keras.layers.BatchNormalization.  Same UPDATE_OPS pitfall (wired the
              same way).  Documented difference, deliberately not "fixed": its moving averages
              are zero-debiased (assign_moving_average(zero_debias=True)), so after one step
              moving_mean == batch mean (not (1-momentum)*mean), and each layer has 4 extra
              non-trainable variables (moving_*/biased, moving_*/local_step).  Its updates are
              unconditional when `training` is a tensor: never run UPDATE_OPS in eval.
  contrib     tf.contrib.layers.batch_norm (deprecated, needs tf.contrib; scale=True so it has
              gamma like the others; zero_debias_moving_mean=False).
  nn          Recipe B: tf.nn.moments over the batch/spatial axes + tf.nn.batch_normalization,
              non-trainable moving_mean (init 0) / moving_variance (init 1) from get_variable,
              updated by assign_moving_average(..., zero_debias=False) placed in UPDATE_OPS.
  fused       tf.nn.fused_batch_norm + the Recipe B variables and updates.
  global_norm tf.nn.batch_norm_with_global_normalization (deprecated): it only normalises with
              given statistics, so training feeds it tf.nn.moments, inference the moving ones.

Moving-variance convention (the fused kernel returns the Bessel-corrected batch variance,
sum((x-mean)^2)/(n-1), while tf.nn.moments returns the biased one, /n; the *normalisation* is
identical, only what is stored differs):
  unbiased (n-1): layers, layers_fn, tf.keras, contrib (all run the fused kernel on 4-D
                  inputs and store its variance as is), and `fused`, which follows them on
                  purpose so that the default and the hand-made fused path agree.
  biased (n):     nn, global_norm (they store what tf.nn.moments returns).
  keras:          standalone Keras 2.2.4/2.2.5 multiplies by n/(n-1-eps) ("unbiased estimator")
                  *after* K.normalize_batch_in_training, which already returns the fused kernel's
                  corrected variance: it stores var_biased * n/(n-1) * n/(n-1-eps) (corrected
                  twice; measured on every cell).  Only on its non-fused path (NCHW on CPU) is the
                  correction applied once.  Documented, not fixed.

Variables live in tf1.variable_scope(<name>) and are called gamma, beta, moving_mean,
moving_variance, so a `variable_scope('resnet', reuse=True)` around a second tower
shares them.  Keras layers do not take part in variable-scope reuse: for the two Keras
flavours the layer object itself is cached per graph and variable-scope path, and reused
when the scope is reusing (the same trick that makes Keras layers share weights).
"""
import weakref

import compat
from compat import assign_moving_average, contrib_batch_norm, fused_batch_norm, moments, tf1
from compat import keras as ck
from compat.keras import keras_module

IMPLEMENTATIONS = ("layers", "layers_fn", "tf.keras", "keras", "contrib", "nn", "fused", "global_norm")
DEFAULT = "layers"

_keras_layers = weakref.WeakKeyDictionary()  # graph -> {variable-scope path: Keras BN layer}

# What an implementation needs besides tf1: a compat.table row (contrib) or a Keras flavour.  Whether that exists on
# this TF is compat's answer (a Broken row with its measured failure), never a version check here.
_NEEDS_ROW = {"contrib": "contrib_batch_norm"}
_NEEDS_FLAVOUR = {"tf.keras": "tf.keras", "keras": "keras"}


def unavailable(impl):
    """Why `impl` cannot be built on this cell (compat's reason), or None."""
    if impl not in IMPLEMENTATIONS:
        raise ValueError("batch-norm implementation must be one of %s, got %r" % (IMPLEMENTATIONS, impl))
    if impl in _NEEDS_ROW:
        return compat.unavailable(_NEEDS_ROW[impl])
    if impl in _NEEDS_FLAVOUR:
        return ck.unavailable(_NEEDS_FLAVOUR[impl])
    return None


def available_implementations():
    """IMPLEMENTATIONS this cell can build, in their order."""
    return tuple(impl for impl in IMPLEMENTATIONS if unavailable(impl) is None)


def batch_norm(x, training, impl=DEFAULT, name="bn", momentum=0.9, epsilon=1e-3, data_format="NHWC"):
    """Batch-normalise a 4-D tensor over its channel axis; returns the normalised tensor.

    `training` is a python bool or a scalar bool tensor (e.g. placeholder_with_default(True)
    flipped to False for evaluation).  `name` may be a path ('stage1/block0/bn1'): the parent
    part becomes variable scopes, the last part the layer's own scope.
    """
    if impl not in IMPLEMENTATIONS:
        raise ValueError("batch-norm implementation must be one of %s, got %r" % (IMPLEMENTATIONS, impl))
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError("data_format must be 'NHWC' or 'NCHW', got %r" % (data_format,))
    parent, _, leaf = name.rpartition("/")
    args = (x, training, leaf, momentum, epsilon, data_format)
    if parent:
        with tf1.variable_scope(parent):
            return _BUILDERS[impl](*args)
    return _BUILDERS[impl](*args)


def _axis(data_format):
    return 1 if data_format == "NCHW" else 3


def _layers_class(x, training, name, momentum, epsilon, data_format):
    layer = tf1.layers.BatchNormalization(axis=_axis(data_format), momentum=momentum, epsilon=epsilon, name=name)
    return layer(x, training=training)


def _layers_fn(x, training, name, momentum, epsilon, data_format):
    return tf1.layers.batch_normalization(x, axis=_axis(data_format), momentum=momentum, epsilon=epsilon,
                                          training=training, name=name)


def _keras(flavour):
    def build(x, training, name, momentum, epsilon, data_format):
        layer = _keras_layer(flavour, x, name, momentum, epsilon, data_format)
        seen = set(id(u) for u in layer.updates)
        y = layer(x, training=training)
        _add_updates([u for u in layer.updates if id(u) not in seen])
        _untrain(layer.non_trainable_weights)
        return y
    return build


def _keras_layer(flavour, x, name, momentum, epsilon, data_format):
    scope = tf1.get_variable_scope()
    key = (flavour, scope.name + "/" + name)
    layers = _keras_layers.setdefault(tf1.get_default_graph(), {})
    if key in layers:
        if not scope.reuse:
            raise ValueError("batch norm %r (%s) already exists in this graph; build the second copy "
                             "under a reusing variable scope to share it" % (key[1], flavour))
        return layers[key]
    bn_class = keras_module(flavour).layers.BatchNormalization
    layer = bn_class(axis=_axis(data_format), momentum=momentum, epsilon=epsilon, name=name)
    # Keras names weights after the *name* scope (tower_0/resnet/... under a tower), the other
    # implementations after the variable scope (resnet/...).  Building the weights under the
    # variable scope's path as an absolute name scope gives every flavour the same checkpoint
    # names; the call (ops, updates) still happens under the caller's name scope, so per-tower
    # filtering of UPDATE_OPS by name scope keeps working.
    with tf1.name_scope(key[1].lstrip("/") + "/"):
        layer.build(tuple(x.shape.as_list()))
    layers[key] = layer
    return layer


def _untrain(variables):
    """Standalone Keras makes every weight with tf.Variable(trainable=True) and tracks trainability
    itself, so its moving statistics land in TRAINABLE_VARIABLES; take them out, or
    tf1.trainable_variables() (optimizers, weight decay, parameter counts) would include them."""
    collection = tf1.get_collection_ref(tf1.GraphKeys.TRAINABLE_VARIABLES)
    drop = set(id(v) for v in variables)
    collection[:] = [v for v in collection if id(v) not in drop]


def _add_updates(updates):
    collection = tf1.get_collection_ref(tf1.GraphKeys.UPDATE_OPS)
    known = set(id(u) for u in collection)
    collection.extend(u for u in updates if id(u) not in known)


def _contrib(x, training, name, momentum, epsilon, data_format):
    return contrib_batch_norm()(x, decay=momentum, epsilon=epsilon, center=True, scale=True,
                                is_training=training, updates_collections=tf1.GraphKeys.UPDATE_OPS,
                                zero_debias_moving_mean=False, data_format=data_format, scope=name)


def _switch(training, true_fn, false_fn):
    """Python bool: build one branch only; bool tensor: tf1.cond."""
    if isinstance(training, bool):
        return true_fn() if training else false_fn()
    return tf1.cond(training, true_fn, false_fn)


def _recipe_b(normalize_training, normalize_inference):
    """Shared skeleton of the hand-made implementations (Recipe B variables + updates).

    normalize_training(x, gamma, beta, shape) -> (y, batch_mean, stored_variance), all stats [C];
    normalize_inference(x, gamma, beta, mean, variance, shape) -> y.
    """
    def build(x, training, name, momentum, epsilon, data_format):
        channels = x.shape[_axis(data_format)].value
        with tf1.variable_scope(name):
            gamma = tf1.get_variable("gamma", [channels], initializer=tf1.ones_initializer())
            beta = tf1.get_variable("beta", [channels], initializer=tf1.zeros_initializer())
            moving_mean = tf1.get_variable("moving_mean", [channels], initializer=tf1.zeros_initializer(),
                                           trainable=False)
            moving_variance = tf1.get_variable("moving_variance", [channels], initializer=tf1.ones_initializer(),
                                               trainable=False)
            shape = [1, channels, 1, 1] if data_format == "NCHW" else [1, 1, 1, channels]

            def train_branch():
                return normalize_training(x, gamma, beta, shape, epsilon, data_format)

            def infer_branch():
                y = normalize_inference(x, gamma, beta, moving_mean, moving_variance, shape, epsilon, data_format)
                return y, moving_mean, moving_variance

            if isinstance(training, bool) and not training:
                return infer_branch()[0]
            y, mean, variance = _switch(training, train_branch, infer_branch)
            # In inference (tensor switch) the "batch" stats are the moving ones themselves, so the
            # update is an exact no-op: variable -= (variable - variable) * (1 - momentum).
            updates = [assign_moving_average(moving_mean, mean, momentum, zero_debias=False),
                       assign_moving_average(moving_variance, variance, momentum, zero_debias=False)]
            _add_updates(updates)
            return y
    return build


def _reduction_axes(data_format):
    return [0, 2, 3] if data_format == "NCHW" else [0, 1, 2]


def _nn_training(x, gamma, beta, shape, epsilon, data_format):
    mean, variance = moments(x, _reduction_axes(data_format), keepdims=True)
    y = tf1.nn.batch_normalization(x, mean, variance, tf1.reshape(beta, shape), tf1.reshape(gamma, shape), epsilon)
    return y, tf1.reshape(mean, [-1]), tf1.reshape(variance, [-1])


def _nn_inference(x, gamma, beta, mean, variance, shape, epsilon, data_format):
    r = lambda t: tf1.reshape(t, shape)  # noqa: E731
    return tf1.nn.batch_normalization(x, r(mean), r(variance), r(beta), r(gamma), epsilon)


def _fused_training(x, gamma, beta, shape, epsilon, data_format):
    # The third output is the Bessel-corrected batch variance: stored as is (see module doc).
    return fused_batch_norm(x, gamma, beta, epsilon=epsilon, data_format=data_format, is_training=True)


def _fused_inference(x, gamma, beta, mean, variance, shape, epsilon, data_format):
    return fused_batch_norm(x, gamma, beta, mean=mean, variance=variance, epsilon=epsilon,
                            data_format=data_format, is_training=False)[0]


def _global_norm_training(x, gamma, beta, shape, epsilon, data_format):
    mean, variance = moments(x, _reduction_axes(data_format), keepdims=True)
    mean, variance = tf1.reshape(mean, [-1]), tf1.reshape(variance, [-1])
    return _global_norm_inference(x, gamma, beta, mean, variance, shape, epsilon, data_format), mean, variance


def _global_norm_inference(x, gamma, beta, mean, variance, shape, epsilon, data_format):
    r = lambda t: tf1.reshape(t, shape[1:])  # noqa: E731  (broadcast over the channel axis of a 4-D input)
    return tf1.nn.batch_norm_with_global_normalization(x, r(mean), r(variance), r(beta), r(gamma), epsilon, True)


_BUILDERS = {
    "layers": _layers_class,
    "layers_fn": _layers_fn,
    "tf.keras": _keras("tf.keras"),
    "keras": _keras("keras"),
    "contrib": _contrib,
    "nn": _recipe_b(_nn_training, _nn_inference),
    "fused": _recipe_b(_fused_training, _fused_inference),
    "global_norm": _recipe_b(_global_norm_training, _global_norm_inference),
}
