"""compat.keras on this cell: what Keras 2.2.5 dropped from `keras.backend`, the
`keras.engine.topology` import quirk, the Layer bases, and the session hooks.

References are TensorFlow's own modules and the Keras class hierarchy, not compat itself.
"""
import importlib

import pytest
import tensorflow

from compat import keras as ck

pytest_plugins = ("keras_fixtures",)  # the flavour / keras_sess fixtures

# K.<name> as Keras 2.2.4 exported it -> the TF module that must come back.
MOVED = {
    "tf": tensorflow.__name__,
    "control_flow_ops": "tensorflow.python.ops.control_flow_ops",
    "moving_averages": "tensorflow.python.training.moving_averages",
    "functional_ops": "tensorflow.python.ops.functional_ops",
    "tensor_array_ops": "tensorflow.python.ops.tensor_array_ops",
}


@pytest.mark.parametrize("name", sorted(MOVED))
def test_backend_symbols_keras_225_dropped(flavour, name):
    assert ck.backend_symbol(flavour, name) is importlib.import_module(MOVED[name])


def test_topology_network_is_every_models_base(flavour):
    reason = ck.role_unavailable(flavour, "topology")
    if reason:
        pytest.skip(reason)
    assert issubclass(ck.models(flavour).Model, ck.topology(flavour).Network)


def test_layer_base(flavour):
    base = ck.layer_base(flavour)
    assert issubclass(ck.layers(flavour).Conv2D, base)


def test_flavours_are_unrelated_hierarchies():
    """A standalone Keras layer is no tf.keras Layer and vice versa: the flavours cannot be mixed in one model."""
    missing = ["%s: %s" % (f, ck.unavailable(f)) for f in ck.FLAVOURS if ck.unavailable(f)]
    if missing:
        pytest.skip("needs both Keras flavours; " + "; ".join(missing))
    for flavour, other in (("keras", "tf.keras"), ("tf.keras", "keras")):
        assert not issubclass(ck.layers(flavour).Conv2D, ck.layer_base(other))


def test_session_and_learning_phase_hooks(flavour, keras_sess):
    assert ck.get_session(flavour) is keras_sess
    phase = ck.learning_phase(flavour)
    assert phase.graph is keras_sess.graph and phase.dtype.name == "bool"
    assert not keras_sess.run(phase)  # placeholder_with_default(False): unfed means inference
    assert keras_sess.run(phase, {phase: True})
