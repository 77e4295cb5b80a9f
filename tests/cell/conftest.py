"""Fixtures shared by the cell suite (runs inside every matrix cell, Python 3.6+).

The harness tells the suite which cell it is in through TFPIN_CELL (a JSON object
with the cell id, python and the exact pinned requirements), so identity checks compare
against the matrix, not against whatever happens to be installed.
"""
import json
import os

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a visible GPU; skipped (with reason) on CPU-only cells")
    config.addinivalue_line("markers", "slow: longer real-data training checks")


def pytest_collection_modifyitems(config, items):
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    from compat import gpu_devices

    if gpu_devices():
        return
    skip = pytest.mark.skip(reason="no GPU visible in this cell (CPU-only TensorFlow or no device)")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cell():
    """The matrix cell this suite runs in, as the harness described it (None when run by hand)."""
    raw = os.environ.get("TFPIN_CELL")
    return json.loads(raw) if raw else None


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
