"""Keras layers as the primitives of arch.build, for standalone Keras and tf.keras.

Two backends walk the one arch.py spec: `KerasLayersBackend` builds a functional Model
(keras_model.build_keras_model); `TowerKerasBackend` builds the same layers inside the
tf1 tower stack, sharing them across towers.  The option-A shortcut is a custom layer,
`PadShortcut`, defined once and bound to each flavour's (unrelated) Layer base.

Naming: Keras layer names may not contain '/', so arch name 'stage1/block0/conv1'
becomes layer 'stage1_block0_conv1'.  arch names never contain '_', which makes the
mapping invertible (checked, not assumed).
"""
import inspect
import weakref

from compat import keras as ck
from compat import tf1
from resnet_core import arch as arch_lib
from resnet_core import batchnorm


def _graph_bn_defaults():
    """The graph model's BN momentum/epsilon (batchnorm.batch_norm defaults), so the
    flavours can only differ where Keras itself differs."""
    params = inspect.signature(batchnorm.batch_norm).parameters
    return params["momentum"].default, params["epsilon"].default


BN_MOMENTUM, BN_EPSILON = _graph_bn_defaults()


# ----------------------------------------------------------------------------- names
def keras_layer_name(arch_name):
    """'stage1/block0/conv1' -> 'stage1_block0_conv1'."""
    if "_" in arch_name:
        raise ValueError("arch name %r contains '_': the '/'<->'_' layer-name mapping would not be invertible"
                         % (arch_name,))
    return arch_name.replace("/", "_")


def arch_layer_name(keras_name):
    """Inverse of keras_layer_name: 'stage1_block0_conv1' -> 'stage1/block0/conv1'."""
    return keras_name.replace("_", "/")


# ----------------------------------------------------------------------------- custom layer
class _PadShortcutMixin(object):
    """He et al. option-A shortcut: subsample by `stride`, zero-pad channels symmetrically.

    Defined once; `pad_shortcut_class(flavour)` combines it with the flavour's Layer base,
    because standalone keras.layers.Layer and tf.keras' Layer are unrelated classes.
    """

    def __init__(self, out_filters, stride, data_format="channels_last", **kwargs):
        super(_PadShortcutMixin, self).__init__(**kwargs)
        self.out_filters = int(out_filters)
        self.stride = int(stride)
        self.data_format = data_format

    def _channel_axis(self):
        return 3 if self.data_format == "channels_last" else 1

    def _padding(self, in_filters):
        extra = self.out_filters - in_filters
        if extra < 0:
            raise ValueError("PadShortcut cannot shrink channels (%d -> %d)" % (in_filters, self.out_filters))
        pad = [[0, 0]] * 4
        pad[self._channel_axis()] = [extra // 2, extra - extra // 2]
        return pad

    def call(self, inputs):
        s = self.stride
        if self.data_format == "channels_last":
            x = inputs[:, ::s, ::s, :]
        else:
            x = inputs[:, :, ::s, ::s]
        in_filters = int(x.get_shape()[self._channel_axis()])
        return tf1.pad(x, self._padding(in_filters))

    def compute_output_shape(self, input_shape):
        shape = list(tf1.TensorShape(input_shape).as_list())
        spatial = (1, 2) if self.data_format == "channels_last" else (2, 3)
        for axis in spatial:
            if shape[axis] is not None:
                shape[axis] = (shape[axis] + self.stride - 1) // self.stride
        shape[self._channel_axis()] = self.out_filters
        return tuple(shape)

    def get_config(self):
        config = super(_PadShortcutMixin, self).get_config()
        config.update({"out_filters": self.out_filters, "stride": self.stride, "data_format": self.data_format})
        return config


_PAD_CLASSES = {}


def pad_shortcut_class(flavour):
    """The PadShortcut layer class deriving from `flavour`'s Layer base (one class per flavour)."""
    if flavour not in _PAD_CLASSES:
        base = ck.layer_base(flavour)
        _PAD_CLASSES[flavour] = type("PadShortcut", (_PadShortcutMixin, base),
                                     {"__doc__": _PadShortcutMixin.__doc__, "__module__": __name__})
    return _PAD_CLASSES[flavour]


# ----------------------------------------------------------------------------- builder
class KerasLayersBackend(object):
    """arch.build primitives as Keras layers of one flavour."""

    def __init__(self, flavour, data_format, bn_momentum, bn_epsilon):
        self.layers = ck.layers(flavour)
        self.pad_cls = pad_shortcut_class(flavour)
        self.data_format = data_format
        self.axis = -1 if data_format == "channels_last" else 1
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon

    def conv(self, x, filters, kernel, stride, name):
        return self.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                                  kernel_initializer="he_normal", data_format=self.data_format,
                                  name=keras_layer_name(name))(x)

    def batch_norm(self, x, name):
        return self.layers.BatchNormalization(axis=self.axis, momentum=self.bn_momentum,
                                              epsilon=self.bn_epsilon, name=keras_layer_name(name))(x)

    def relu(self, x, name):
        return self.layers.Activation("relu", name=keras_layer_name(name))(x)

    def add(self, a, b, name):
        return self.layers.Add(name=keras_layer_name(name))([a, b])

    def pad_shortcut(self, x, out_filters, stride, name):
        return self.pad_cls(out_filters, stride, data_format=self.data_format, name=keras_layer_name(name))(x)

    def max_pool(self, x, size, stride, name):
        return self.layers.MaxPooling2D(size, stride, padding="same", data_format=self.data_format,
                                        name=keras_layer_name(name))(x)

    def global_avg_pool(self, x, name):
        return self.layers.GlobalAveragePooling2D(data_format=self.data_format, name=keras_layer_name(name))(x)

    def dense(self, x, units, name):
        return self.layers.Dense(units, name=keras_layer_name(name))(x)


class TowerKerasBackend(KerasLayersBackend):
    """The same Keras layers, shared across the towers of the tf1 tower stack.

    * Keras layers ignore `variable_scope(reuse=True)` (tensorflow/tensorflow#27016): a new
      Conv2D per tower would give every tower its own weights.  Weighted layers are cached per
      graph and variable-scope path and reused when the scope is reusing.
    * Keras names variables after the *name* scope, so inside the trainer's
      `name_scope('tower_0')` they would be 'tower_0/resnet/...', outside the 'resnet/' prefix
      the trainer collects model variables by.  Weights are therefore built under the absolute
      scope '<variable scope>/<layer>/' ('resnet/stage1_block0_conv1/kernel'); the ops of
      each call stay in the tower's name scope.
    * BN gets `training` explicitly (no learning phase to feed); each call's update ops go to
      UPDATE_OPS (Keras never puts them there), where the trainer picks tower 0's by scope.
    * Standalone Keras creates every weight as a trainable tf.Variable and tracks trainability
      itself, so its moving statistics land in TRAINABLE_VARIABLES; they are taken out.
    """

    def __init__(self, flavour, data_format, training):
        super(TowerKerasBackend, self).__init__(flavour, data_format, BN_MOMENTUM, BN_EPSILON)
        self.flavour = flavour
        self.training = training

    def _shared(self, name, make, x):
        scope = tf1.get_variable_scope()
        cache = _tower_layers.setdefault(tf1.get_default_graph(), {})
        key = (self.flavour, scope.name, name)
        if key in cache:
            if not scope.reuse:
                raise ValueError("Keras layer %r already exists under variable scope %r; build further towers "
                                 "under a reusing variable scope" % (name, scope.name))
            return cache[key]
        layer = make()
        prefix = scope.name + "/" if scope.name else ""
        with tf1.name_scope(prefix + layer.name + "/"):
            layer.build(tuple(x.get_shape().as_list()))
        _drop_from_trainable(layer.non_trainable_weights)
        cache[key] = layer
        return layer

    def conv(self, x, filters, kernel, stride, name):
        return self._shared(name, lambda: self.layers.Conv2D(
            filters, kernel, strides=stride, padding="same", use_bias=False, kernel_initializer="he_normal",
            data_format=self.data_format, name=keras_layer_name(name)), x)(x)

    def dense(self, x, units, name):
        return self._shared(name, lambda: self.layers.Dense(units, name=keras_layer_name(name)), x)(x)

    def batch_norm(self, x, name):
        layer = self._shared(name, lambda: self.layers.BatchNormalization(
            axis=self.axis, momentum=self.bn_momentum, epsilon=self.bn_epsilon, name=keras_layer_name(name)), x)
        y = layer(x, training=self.training)
        collection = tf1.get_collection_ref(tf1.GraphKeys.UPDATE_OPS)
        collection.extend(layer.get_updates_for(x))
        return y


def _drop_from_trainable(variables):
    drop = set(id(v) for v in variables)
    collection = tf1.get_collection_ref(tf1.GraphKeys.TRAINABLE_VARIABLES)
    collection[:] = [v for v in collection if id(v) not in drop]


_tower_layers = weakref.WeakKeyDictionary()  # graph -> {(flavour, variable scope, arch name): layer}


def tower_model_builder(flavour):
    """A train.MODEL_BUILDERS factory for `--api keras|tf.keras`: factory(arch, bn, data_format)
    -> model_fn(images NHWC, training) -> logits, built from `flavour`'s Keras layers.

    `bn` is ignored: the Keras flavours use their own BatchNormalization (that is the point).
    Nothing is imported until the model is built, so registering both flavours in
    MODEL_BUILDERS costs nothing (standalone `import keras` is slow and prints to stderr).
    """
    if flavour not in ck.FLAVOURS:
        raise ValueError("Keras flavour must be one of %s, got %r" % (ck.FLAVOURS, flavour))

    def factory(arch, bn, data_format):
        keras_format = {"NHWC": "channels_last", "NCHW": "channels_first"}[data_format]

        def model_fn(images, training):
            x = images if data_format == "NHWC" else tf1.transpose(images, [0, 3, 1, 2], name="to_nchw")
            return arch_lib.build(arch, x, TowerKerasBackend(flavour, keras_format, training))

        return model_fn

    return factory
