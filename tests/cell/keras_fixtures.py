"""Fixtures and small builders shared by the test_keras_* modules (not a test module).

Import the fixtures by name into a test module (`from keras_fixtures import flavour, ...`):
pytest then treats them as that module's fixtures.
"""
import numpy as np
import pytest

from resnet_core import arch as arch_lib

FLAVOURS = ("keras", "tf.keras")
DIGIT_SHAPE = (8, 8, 1)


def small_cifar_arch(version=1):
    """ResNet-8: He et al.'s CIFAR recipe with one basic block per stage (6n+2, n=1).

    Every layer and shortcut kind of resnet20 (both option-A pad shortcuts) at a third of the
    cost, which is what the 2-minute cell budget allows for trained/compared models.
    """
    return arch_lib.cifar_arch(8, version)


def bn_layer_count(arch):
    """Closed form for BN layers of a CIFAR arch: stem + 2 per basic block (v1), 2 per block + head (v2)."""
    return 1 + 2 * len(arch.blocks)


@pytest.fixture(params=FLAVOURS)
def flavour(request):
    return request.param


@pytest.fixture
def keras_sess(flavour):
    """A fresh graph and session that the flavour's Keras uses, cleared before and after."""
    from resnet_core.keras_model import keras_session

    with keras_session(flavour, threads=2) as sess:
        yield sess


def random_batch(shape, count, seed):
    rng = np.random.RandomState(seed)
    return rng.uniform(0.0, 1.0, size=(count,) + tuple(shape)).astype(np.float32)
