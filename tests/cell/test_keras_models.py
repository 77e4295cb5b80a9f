"""The arch.py ResNet built as Keras models (standalone Keras and tf.keras).

References are independent of our code: He et al. 2016 Table 6 / torchvision parameter
counts, a numpy option-A shortcut, and the model's own predictions before an h5 round trip.
"""
import numpy as np
import pytest
from keras_fixtures import DIGIT_SHAPE, random_batch, small_cifar_arch

from compat import keras as ck
from resnet_core import keras_model as km

pytest_plugins = ("keras_fixtures",)  # the flavour / keras_sess fixtures

# Trainable parameters: CIFAR ResNet-20 from He et al. 2016 (0.27M; exact count as in the
# repository's arch notes), ImageNet ResNet-18 from torchvision (11,689,512).
PAPER_PARAMS = {"resnet20": 269722, "resnet18": 11689512}


@pytest.mark.parametrize("model_name", sorted(PAPER_PARAMS))
def test_trainable_parameters_match_paper(model_name, flavour, keras_sess):
    shape = (32, 32, 3)
    model = km.build_keras_model(model_name, flavour, shape)
    trainable = sum(int(np.prod(w.get_shape().as_list())) for w in model.trainable_weights)
    assert trainable == PAPER_PARAMS[model_name]


def _numpy_option_a(x, out_filters, stride):
    y = x[:, ::stride, ::stride, :]
    extra = out_filters - y.shape[-1]
    return np.pad(y, [(0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)], mode="constant")


@pytest.mark.parametrize("size", [8, 7])
def test_pad_shortcut_layer_is_option_a(size, flavour, keras_sess):
    x = random_batch((size, size, 16), 2, seed=size)
    layer = km.pad_shortcut_class(flavour)(32, 2, name="sc")
    inp = ck.layers(flavour).Input(shape=x.shape[1:])
    out = layer(inp)
    got = keras_sess.run(out, {inp: x})
    expected = _numpy_option_a(x, 32, 2)
    np.testing.assert_array_equal(got, expected)
    assert tuple(out.get_shape().as_list()[1:]) == expected.shape[1:]
    assert tuple(layer.compute_output_shape((None,) + x.shape[1:])[1:]) == expected.shape[1:]


def test_pad_shortcut_config_round_trip(flavour, keras_sess):
    cls = km.pad_shortcut_class(flavour)
    layer = cls(64, 2, data_format="channels_first", name="stage3_block0_shortcut")
    config = layer.get_config()
    assert (config["out_filters"], config["stride"], config["data_format"], config["name"]) == (
        64, 2, "channels_first", "stage3_block0_shortcut")
    assert cls.from_config(config).get_config() == config
    assert isinstance(layer, ck.layer_base(flavour))


def test_h5_round_trip_gives_identical_predictions(flavour, tmp_path):
    arch = small_cifar_arch()
    x = random_batch(DIGIT_SHAPE, 16, seed=3)
    path = str(tmp_path / "model.h5")
    with km.keras_session(flavour, threads=2) as sess:
        model = km.compile_for_fit(km.build_keras_model(arch, flavour, DIGIT_SHAPE), flavour, learning_rate=0.05)
        _randomise_bn_statistics(model, sess)
        before = model.predict(x)
        model.save(path)
    with km.keras_session(flavour, threads=2):
        loaded = km.load_keras_model(path, flavour)
        after = loaded.predict(x)
        pads = [layer for layer in loaded.layers if type(layer).__name__ == "PadShortcut"]
    assert len(pads) == 2 and all(isinstance(p, km.pad_shortcut_class(flavour)) for p in pads)
    assert [p.get_config()["out_filters"] for p in pads] == [32, 64]
    assert loaded.loss is km.sparse_softmax_logits_loss  # compiled state came back too
    np.testing.assert_array_equal(after, before)
    assert np.std(before) > 0


def _randomise_bn_statistics(model, sess):
    """Non-trivial moving statistics, so the saved inference path really depends on them."""
    rng = np.random.RandomState(0)
    for name, var in km.keras_weights_by_graph_name(model).items():
        shape = var.get_shape().as_list()
        if name.endswith("moving_mean"):
            var.load(rng.normal(0.0, 0.5, shape).astype(np.float32), sess)
        elif name.endswith("moving_variance"):
            var.load(rng.uniform(0.5, 2.0, shape).astype(np.float32), sess)
