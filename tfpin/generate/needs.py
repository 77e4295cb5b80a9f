"""What a project says its tests need, for `tfpin init`: its packaging, its test extra, its test requirement
files, and its own TensorFlow/Keras lines (reported, never let to override a cell's).

The extras and requirements of a packaged project come from its own metadata as the installer built it in
the cell (`cellplugin/tfpin_needs.py`), never from parsing setup.py.
"""
from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from tfpin.cell.metadata import Metadata

TEST_EXTRAS = ("test", "tests", "testing")  # what setuptools projects name the extra their tests need
# Requirement files that conventionally hold what a project's tests need beyond the project itself.
TEST_REQUIREMENT_FILES = ("requirements-test.txt", "requirements_test.txt", "requirements-tests.txt",
                          "test-requirements.txt", "test_requirements.txt", "requirements-dev.txt",
                          "requirements_dev.txt", "tests/requirements.txt")
# The packages a cell pins: a project's own line for them never decides what a cell installs.
STACK = ("tensorflow", "tensorflow-gpu", "tensorflow-cpu", "intel-tensorflow", "tf-nightly", "keras", "tf-keras")


def packaged_by(root: Path) -> str:
    """The file that makes the project installable ('' when none does)."""
    for name in ("setup.py", "setup.cfg"):
        if (root / name).is_file():
            return name
    path = root / "pyproject.toml"
    if path.is_file() and re.search(r"^\[project\]", path.read_text(encoding="utf-8", errors="replace"), re.M):
        return "pyproject.toml [project]"
    return ""


def requirement_files(root: Path) -> list[str]:
    found = [name for name in TEST_REQUIREMENT_FILES if (root / name).is_file()]
    found += sorted(str(p.relative_to(root)) for p in (root / "requirements").glob("test*.txt") if p.is_file())
    return found


def stack_lines(lines) -> list[str]:
    """The lines that name a package a cell pins (tensorflow, keras, ...), as written."""
    out = []
    for line in lines:
        text = line.split("#")[0].strip()
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) in STACK:
            out.append(text)
    return out


def file_lines(path: Path) -> list[str]:
    try:
        return [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return []


def test_extra(meta: Metadata) -> str:
    """The extra a project's tests need, by the names setuptools projects give it."""
    return next((e for e in TEST_EXTRAS if e in meta.extras), "")
