"""Installer answers: 'no build for this Python' is told apart from other failures.

pip's answers need a second, verbose pip query and are covered by real runs in test_faults.py.
"""
import pytest

from tfpin.cell.envs import CellEnv
from tfpin.cell.installer import parse_freeze
from tfpin.config import matrix as matrices

CELL = {c.id: c for c in matrices.load("full").cells}["py3.7-tf1.12-keras2.2.4"]

UV = ("error: No solution found when resolving dependencies\n  cause: Because tensorflow==1.12.3 has no wheels with "
      "a matching Python ABI tag (e.g., `cp37m`) and you require tensorflow==1.12.3, we can conclude ...")
PIP = ("ERROR: Could not find a version that satisfies the requirement tensorflow==1.12.3 (from versions: 1.13.1)\n"
       "ERROR: No matching distribution found for tensorflow==1.12.3")
OTHER = "error: Failed to fetch: `https://pypi.org/simple/numpy/` Connection refused"
UNRELATED = "ERROR: Could not find a version that satisfies the requirement leftpad==9 (from versions: none)"


UV_PYTHON = ("error: No solution found when resolving dependencies:\n  Because the current Python version "
             "(3.6.15) does not satisfy Python>=3.7 and tensorflow==1.12.3 depends on Python>=3.7, we can conclude ...")
UV_TYPO = "  Because there is no version of tensorflow==1.12.9 and you require tensorflow==1.12.9, we can conclude ..."


@pytest.mark.parametrize("text,expected", [(UV, True), (UV_PYTHON, True), (UV_TYPO, False), (OTHER, False),
                                           (UNRELATED, False), (PIP.replace("1.13.1", "none"), False)])
def test_no_build_detection(tmp_path, text, expected):
    found = CellEnv(CELL, tmp_path, tmp_path)._no_build(text, lambda _: None)
    assert bool(found) is expected
    if expected:
        assert "tensorflow==1.12.3" in found


def test_parse_freeze_normalises_names():
    got = parse_freeze("Keras-Applications==1.0.8\ntensorflow==1.15.5\n-e git+x#egg=y\nh5py==2.10.0\n")
    assert got == {"keras-applications": "1.0.8", "tensorflow": "1.15.5", "h5py": "2.10.0"}


def test_pip_version_lists_are_shortened():
    from tfpin.cell.installer import short as _short

    line = "ERROR: Could not find a version that satisfies the requirement x (from versions: %s)" % ", ".join(
        "1.%d" % i for i in range(30))
    assert _short(line).endswith("(from versions: 1.0, 1.1, 1.2, 1.3, ... 1.29)")
