"""Keras flavour switch: standalone `keras` (2.2.4/2.2.5) or TensorFlow's `tf.keras`.

The two are different class hierarchies (a standalone keras Layer is not a tf.keras
Layer and vice versa) with different global sessions, so code picks a flavour once and
gets every Keras object through here.  Everything that differs between the flavours, or
between Keras 2.2.4 and 2.2.5, is a row of a table below; resnet_core never asks.

* `_MODULES`: where each flavour's pieces live.  tf.keras is the tf1 (compat.v1) namespace,
  except its backend: on TF 1.14/1.15 even `tf.compat.v1.keras.backend.get_session` logs
  "The name tf.keras.backend.get_session is deprecated"; the private
  `tensorflow.python.keras.backend` is the same module without the name wrapper (silent).
* `_BACKEND_MOVED`: Keras 2.2.4's `keras.backend` re-exported its whole TF backend module
  (`K.tf`, `K.control_flow_ops`, `K.moving_averages`, ...); 2.2.5 (keras-team/keras#12076)
  does not.  `backend_symbol` serves those names on every version from where TF keeps them.
* `keras.engine.topology` exists in both Keras versions but is not an attribute of
  `keras.engine` until imported explicitly: `topology()` imports it.
* `_MODEL_UPDATES`: where a functional Model exposes its BN moving-average updates (neither
  flavour adds them to UPDATE_OPS).
* `_PATCHES`: methods standalone Keras 2.2.x lacks for TF 1.14/1.15 (added, never replaced).
* `_BROKEN`: round trips a flavour cannot make on some TF release with any dependency versions
  (the reason is a compat.table row, so tests expect exactly that failure there), or with the
  installed Keras and PyYAML (standalone Keras' YAML of a numpy value: the row's adapter decides).
* A tf.keras Model as a SavedModel is a different API on each TF (`tf_keras_export_saved_model`).

Standalone Keras is imported only when asked for: its import prints "Using TensorFlow
backend." to stderr and costs time.
"""
import contextlib
import importlib

from compat.table import Broken, resolve

FLAVOURS = ("keras", "tf.keras")

# flavour -> role -> "module:attr.chain" (standalone) or a compat.table row name (tf.keras;
# resolved per TF version there).
_MODULES = {
    "keras": {
        "keras": "keras:",
        "backend": "keras.backend:",
        "layer_base": "keras.layers:Layer",
        "topology": "keras.engine.topology:",
    },
    "tf.keras": {
        "keras": ("tf1", "keras"),
        "backend": ("tf_keras_backend", None),
        "layer_base": ("tf_keras_layer", None),
        "topology": ("tf_keras_topology", None),
    },
}

# Names code written against Keras 2.2.4 reads from `keras.backend` that 2.2.5 no longer
# exports (measured: dir(K) on 2.2.4 minus 2.2.5), with the TF module that provides them.
_BACKEND_MOVED = {
    "tf": "tensorflow:",
    "control_flow_ops": "tensorflow.python.ops.control_flow_ops:",
    "moving_averages": "tensorflow.python.training.moving_averages:",
    "functional_ops": "tensorflow.python.ops.functional_ops:",
    "tensor_array_ops": "tensorflow.python.ops.tensor_array_ops:",
    "ctc": "tensorflow.python.ops.ctc_ops:",
    "device_lib": "tensorflow.python.client.device_lib:",
    "config_pb2": "tensorflow.core.protobuf.config_pb2:",
    "tf_ops": "tensorflow.python.framework.ops:",
}

# Standalone Keras' Model.get_updates_for(model.inputs) returns [] (a Network keeps no
# per-input updates of its own; `.updates` walks its layers).  tf.keras' `.updates` may also
# hold updates conditional on other inputs (tensorflow/tensorflow#26322), so
# get_updates_for(model.inputs) is the precise choice there.  Measured on 1.12 and 1.15.
_MODEL_UPDATES = {
    "keras": lambda model: list(model.updates),
    "tf.keras": lambda model: list(model.get_updates_for(model.inputs)),
}


def _device_capture_from_string(self, device_string):
    # TF >= 1.14's Graph._apply_device_functions calls op._set_device_from_string(str) on the
    # fake op Keras 2.2.x uses to read the current tf.device (keras/backend/tensorflow_backend.py
    # `_TfDeviceCaptureOp`), which only has `_set_device`: any standalone-Keras BatchNormalization
    # built under `with tf.device(...)` raised AttributeError: '_TfDeviceCaptureOp' object has no
    # attribute '_set_device_from_string' (the multi_gpu_model breakage, keras-team/keras#13057).
    # Keras then reads `.device_type`, so store a DeviceSpec, as _set_device did.
    from tensorflow.python.framework import device as tf_device
    self.device = tf_device.DeviceSpec.from_string(device_string) if device_string else None


# (module, class, missing method, implementation): added only when the class lacks it.
_PATCHES = {
    "keras": [("keras.backend.tensorflow_backend", "_TfDeviceCaptureOp", "_set_device_from_string",
               _device_capture_from_string)],
    "tf.keras": [],
}
_patched = set()


def _apply_patches(flavour):
    if flavour in _patched:
        return
    for module_name, class_name, method, impl in _PATCHES[flavour]:
        cls = getattr(importlib.import_module(module_name), class_name, None)
        if cls is not None and not hasattr(cls, method):
            setattr(cls, method, impl)
    _patched.add(flavour)


# flavour -> compat.table row holding table.Broken(measured failure) on the TF releases the flavour cannot run on.
_FLAVOUR_BROKEN = {"keras": "standalone_keras_broken", "tf.keras": None}


def _check(flavour):
    if flavour not in FLAVOURS:
        raise ValueError("Keras flavour must be one of %s, got %r" % (FLAVOURS, flavour))
    reason = _broken_flavour(flavour)
    if reason:
        raise RuntimeError("Keras flavour %r: %s" % (flavour, reason))


def _broken_flavour(flavour):
    row = _FLAVOUR_BROKEN[flavour]
    value = resolve(row) if row else None
    return value.reason if value else None


def _load(where):
    if isinstance(where, tuple):
        row, attr = where
        obj = resolve(row)
        if isinstance(obj, Broken):
            raise RuntimeError(obj.reason)
        return getattr(obj, attr) if attr else obj
    module_name, _, attrs = where.partition(":")
    obj = importlib.import_module(module_name)
    for attr in filter(None, attrs.split(".")):
        obj = getattr(obj, attr)
    return obj


def _role(flavour, role):
    _check(flavour)
    obj = _load(_MODULES[flavour][role])
    _apply_patches(flavour)
    return obj


def unavailable(flavour):
    """Why `flavour` cannot be used in this cell (the measured failure on this TF, or the failed import), or None."""
    if flavour not in FLAVOURS:
        raise ValueError("Keras flavour must be one of %s, got %r" % (FLAVOURS, flavour))
    reason = _broken_flavour(flavour)
    if reason:
        return reason
    try:
        keras_module(flavour)
    except ImportError as exc:
        return "%s cannot be imported in this cell: %s" % (flavour, exc)
    return None


def available_flavours():
    """The flavours this cell can use: tf.keras always; standalone Keras on TF 1.x where it is installed."""
    return [flavour for flavour in FLAVOURS if unavailable(flavour) is None]


def keras_module(flavour):
    """The top-level Keras package of `flavour` (.layers, .models, .optimizers, ...)."""
    return _role(flavour, "keras")


def layers(flavour):
    return keras_module(flavour).layers


def models(flavour):
    return keras_module(flavour).models


def optimizers(flavour):
    return keras_module(flavour).optimizers


def layer_base(flavour):
    """The Layer base class custom layers must subclass in `flavour`.

    tf.keras: tensorflow.python.keras.layers.Layer (the seed spec's import path);
    standalone: keras.engine.base_layer.Layer (== keras.layers.Layer).
    """
    return _role(flavour, "layer_base")


def backend(flavour):
    """The backend module (K) of `flavour`; the tf.keras one is the silent private path."""
    return _role(flavour, "backend")


def topology(flavour):
    """`keras.engine.topology` (needs an explicit import) or tf.keras' engine.network."""
    return _role(flavour, "topology")


def role_unavailable(flavour, role):
    """Why `flavour` has no `role` (e.g. "topology") on this TF (a Broken compat.table row's reason), or None."""
    _check(flavour)
    where = _MODULES[flavour][role]
    value = resolve(where[0]) if isinstance(where, tuple) else None
    return value.reason if isinstance(value, Broken) else None


def backend_symbol(flavour, name):
    """`K.<name>` as Keras 2.2.4 exported it, on either Keras version and flavour."""
    K = backend(flavour)
    if hasattr(K, name):
        return getattr(K, name)
    if name in _BACKEND_MOVED:
        return _load(_BACKEND_MOVED[name])
    raise AttributeError("keras backend symbol %r: not exported by %s and not in the moved table"
                         % (name, K.__name__))


def model_updates(flavour, model):
    """The update ops (BN moving statistics) a raw-session train op must depend on."""
    _check(flavour)
    return _MODEL_UPDATES[flavour](model)


def learning_phase(flavour):
    """The default graph's learning-phase tensor: placeholder_with_default(False) in both
    flavours, so a raw Session.run that does not feed it runs BN in inference mode."""
    return backend(flavour).learning_phase()


def set_session(flavour, session):
    backend(flavour).set_session(session)


def get_session(flavour):
    """The flavour's global session.

    Prefer passing sessions explicitly: standalone Keras' get_session itself reads
    tf.get_default_session/tf.global_variables and logs their name notices on 1.14/1.15,
    and it initialises every uninitialised variable of the graph as a side effect.
    """
    return backend(flavour).get_session()


# Round trips a flavour cannot make on some TF release whatever the other packages' versions: flavour ->
# round trip -> compat.table row holding table.Broken(measured failure) there (False where it works).  A row may
# instead hold an adapter that decides from other installed packages (Keras, PyYAML): it is called here.
_BROKEN = {
    "keras": {"yaml_numpy": "standalone_keras_yaml_numpy_broken"},
    "tf.keras": {"yaml": "tf_keras_yaml_broken", "yaml_batchnorm": "tf_keras_yaml_batchnorm_broken"},
}


def broken(flavour, round_trip):
    """Why `round_trip` cannot work in `flavour` here (the measured failure), or None where it can."""
    _check(flavour)
    row = _BROKEN[flavour].get(round_trip)
    value = resolve(row) if row else None
    if callable(value):
        value = value()
    return value.reason if value else None


def tf_keras_export_saved_model(model, path):
    """Write a tf.keras Model as a SavedModel (the API differs per TF: compat.table); returns its directory."""
    return resolve("tf_keras_export_saved_model")(model, path)


def tf_keras_load_saved_model(export_dir):
    """A tf.keras Model back from tf_keras_export_saved_model's directory (in the current graph and session)."""
    return resolve("tf_keras_load_saved_model")(export_dir)


def clear_session(flavour):
    """Drop the flavour's global session, learning phase and layer-name counters.

    Resets the default graph, so call it with no nested default graph active.
    """
    backend(flavour).clear_session()


@contextlib.contextmanager
def variables_left_alone(flavour):
    """While a graph whose variables live on other tasks is built: the flavour's Keras must not initialise them.

    Standalone Keras' BatchNormalization asks K.get_session() for the local devices while the graph is
    built, and get_session() then runs is_variable_initialized on every variable of the graph and
    initialises the rest: in a local session that cannot reach the cluster ("Cannot assign a device for
    operation ...: Operation was explicitly assigned to /job:worker/task:0"), and only the chief may
    initialise. K.manual_variable_initialization(True) makes get_session() leave them alone; tf.keras and
    plain graph code do not do this.
    """
    if flavour != "keras":
        yield
        return
    K = backend("keras")
    K.manual_variable_initialization(True)
    try:
        yield
    finally:
        K.manual_variable_initialization(False)
