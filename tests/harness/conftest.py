"""Harness self-tests run on the host Python (the one running nox); no TensorFlow here."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test():
    """Harness runs a test started in the background (Ctrl-C tests) are killed when it ends, even when it failed."""
    yield
    import faultkit

    faultkit.kill_started()
