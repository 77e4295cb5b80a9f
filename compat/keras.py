"""Keras flavour switch: standalone `keras` or TensorFlow's `tf.keras`.

The two are different class hierarchies (a standalone keras Layer is not a tf.keras
Layer and vice versa) with different sessions, so code picks a flavour once and gets
every Keras object through here.  Standalone Keras is imported only when asked for:
its import prints "Using TensorFlow backend." and costs time.
"""
import importlib

FLAVOURS = ("keras", "tf.keras")


def _check(flavour):
    if flavour not in FLAVOURS:
        raise ValueError("Keras flavour must be one of %s, got %r" % (FLAVOURS, flavour))


def keras_module(flavour):
    """The top-level Keras package of `flavour`."""
    _check(flavour)
    if flavour == "keras":
        return importlib.import_module("keras")
    from compat.table import resolve
    return resolve("tf1").keras


def layer_base(flavour):
    """The Layer base class custom layers must subclass in `flavour`.

    tf.keras: tensorflow.python.keras.layers.Layer (the notes' import path);
    standalone: keras.engine.base_layer.Layer (== keras.layers.Layer).
    """
    _check(flavour)
    if flavour == "keras":
        return importlib.import_module("keras.layers").Layer
    from compat.table import resolve
    return resolve("tf_keras_layer")


def backend(flavour):
    """The backend module (K) of `flavour`; the tf.keras one is the silent private path."""
    _check(flavour)
    if flavour == "keras":
        return importlib.import_module("keras.backend")
    from compat.table import resolve
    return resolve("tf_keras_backend")
