"""Fixtures shared by the cell suite (runs inside every matrix cell, Python 3.6+).

The harness (nox or tox) tells the suite which cell it is in through TFPIN_CELL, e.g.
"py3.7-tf1.15-keras2.2.5 python=3.7 tensorflow==1.15.5 keras==2.2.5", so identity checks
compare against the matrix, not against whatever happens to be installed.
"""
import os

import pytest

import compat  # noqa: F401  first: compat sets what must be set before any `import tensorflow` (TF_USE_LEGACY_KERAS)


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a visible GPU; skipped (with reason) on CPU-only cells")
    config.addinivalue_line("markers", "slow: longer real-data training checks")


def pytest_collection_modifyitems(config, items):
    _waiting_tests_last(items)
    _skip_unavailable(items)
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    from compat import gpu_devices

    if gpu_devices():
        return
    skip = pytest.mark.skip(reason="no GPU visible in this cell (CPU-only TensorFlow or no device)")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


def _unavailable_checks():
    """Test parameter name -> (the values it takes, why one of them cannot run on this cell or None).

    The reasons are compat's (a Broken compat.table row with the failure measured on that release, or a Keras
    flavour that does not import): e.g. standalone Keras and tf.contrib on TF 2.x.
    """
    from compat import keras as ck
    from resnet_core import batchnorm, train

    return {
        "flavour": (ck.FLAVOURS, ck.unavailable),
        "impl": (batchnorm.IMPLEMENTATIONS, batchnorm.unavailable),
        "api": (tuple(train.MODEL_BUILDERS), train.unavailable_api),
    }


def _skip_unavailable(items):
    """A test parametrized with a flavour, BN implementation or --api this cell cannot run is skipped, saying why:
    never run into an ImportError, never silently passed."""
    checks = None
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        for name, value in sorted(params.items()):
            if checks is None and name in ("flavour", "impl", "api"):
                checks = _unavailable_checks()
            if checks and name in checks and isinstance(value, str) and value in checks[name][0]:
                reason = checks[name][1](value)
                if reason:
                    item.add_marker(pytest.mark.skip(reason="%s %r unavailable: %s" % (name, value, reason)))
                    break


def _waiting_tests_last(items):
    """Tests of modules that queued fresh-process jobs (background.py) run after all the others, in their
    order: by then the worker has spent the idle core on their jobs while this process ran its own tests."""
    import background

    items.sort(key=lambda item: item.module.__name__ in background.QUEUED_BY)  # stable: order kept within


@pytest.fixture(scope="session")
def cell():
    """The matrix cell this suite runs in, as the harness described it (None when run by hand)."""
    raw = os.environ.get("TFPIN_CELL", "").split()
    if not raw:
        return None
    cell = {"id": raw[0], "python": None, "requirements": {}}
    for token in raw[1:]:
        if token.startswith("python="):
            cell["python"] = token[len("python="):]
        else:
            name, _, version = token.partition("==")
            cell["requirements"][name] = version
    return cell


@pytest.fixture
def graph():
    """A fresh default graph per test, so tests never see each other's variables."""
    from compat import tf1

    g = tf1.Graph()
    with g.as_default():
        yield g


@pytest.fixture
def session(graph):
    """A single-threaded session on the fresh graph (deterministic reductions)."""
    from compat import session_config, tf1

    with tf1.Session(graph=graph, config=session_config(threads=1)) as sess:
        yield sess


@pytest.fixture(scope="session")
def digits():
    """sklearn's bundled 8x8 digits (real data, offline): fixed stratified split, scaled to [0, 1]."""
    from resnet_core.data import load_digits_split

    return load_digits_split()


@pytest.fixture(scope="session")
def cli_digits(tmp_path_factory):
    """(config, result) of one `python -m resnet_core.train --dataset digits` with the CLI's defaults, trained once
    per suite: test_digits.py checks what it learned, and the between-cells writer keeps its checkpoint as this
    cell's evidence. Each trained its own model before (the CLI's 14 s and the writer's 50 steps, in every cell)."""
    from resnet_core.train import config_from, train

    config = config_from(dataset="digits", checkpoint_dir=str(tmp_path_factory.mktemp("cli_digits")))
    return config, train(config)
