"""Property-based fuzz of the inputs a user writes: tfpin.toml and a matrix file of their own.

Every outcome of `tfpin list --json`, `tfpin ci github` and `tfpin ci gitlab` on any such input is exit 0 or 2
(with `tfpin: error: ...` naming the file), never a traceback; and what they write is YAML that parses and
interpolates no `$(` or `${{` from a value into a shell line. The values are drawn from the shapes users get wrong:
every key of both files with values of every TOML type, and strings holding newlines, NUL, shell and Actions
syntax, absolute and escaping paths, globs and non-ASCII; sometimes the file is not UTF-8 at all.
"""
from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest
import tomli_w
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tfpin import __main__ as cli  # noqa: E402
from tfpin.config import constraints  # noqa: E402
from tfpin.config import matrix as matrices  # noqa: E402
from tfpin.config import project as projects  # noqa: E402

EXAMPLES = int(os.environ.get("TFPIN_FUZZ_EXAMPLES", "2000"))
NASTY = ["tests", "tests/test_a.py", "-m", "not slow", "-k", "a or b", "/etc", "../outside", "tests\n", "a\x00b",
         "$(touch PWNED)", "${{ github.event.issue.title }}", "`id`", "sub;touch X", "*.py", "[", "é", "",
         " ", "3.7", "3.6", "1.15.5", "1.15.5\n", "==1.0", "six==1.16.0", "six==1.16.0\n", "-r req.txt",
         "-r /etc/passwd", "-r ../x.txt", ".", ".[tests]", "-e .", "table", "full", "m.toml", "APP_*", "PATH",
         "PYTHONPATH", "tensorflow", "keras", "tf", "py3.7-tf1.15-keras2.2.5", "\t", "x" * 300]
MATRIX_FILES = ["m.toml", "m$(touch PWNED).toml", "${{ github.event.issue.title }}.toml", "sub;touch X.toml"]
INJECTIONS = ("$(touch PWNED)", "${{ github.event.issue.title }}", "`id`", "sub;touch X")
KEY_NAMES = sorted(projects.KEYS | matrices.TOP_KEYS | matrices.PACKAGE_KEYS | matrices.PYTHON_KEYS
                   | constraints.CONSTRAINT_KEYS | {"python", "tensorflow", "keras", "pin", "reason", "when"})

scalars = st.one_of(st.sampled_from(NASTY), st.text(max_size=12), st.integers(-3, 100),
                    st.floats(allow_nan=True, allow_infinity=True), st.booleans())
anything = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEY_NAMES + NASTY[:6]), inner, max_size=4)),
    max_leaves=12)


RARELY = st.sampled_from([False] * 9 + [True])  # hypothesis shrinks to the first: False


def mostly(plausible):
    """A value of the key's own shape nine times in ten (so the fuzz gets past the first check), else anything."""
    return st.one_of(*[plausible] * 9, anything)


def words(*choices):
    """One of the key's own values five times in six, else a nasty one."""
    return st.one_of(*[st.sampled_from(choices)] * 5, st.sampled_from(NASTY))


args = st.lists(words("tests", "tests/test_a.py", "-m", "not slow", "-k", "a", "-x", "--ignore=tests/x.py"),
                min_size=1, max_size=4)
constraint = st.fixed_dictionaries({"pin": words("numpy<1.17", "h5py<3.0.0"), "reason": words("why")},
                                   optional={"when": st.dictionaries(words("tensorflow", "python", "keras"),
                                                                     words("<1.15", ">=3.7", "1.15.5"), max_size=2),
                                             "origin": words("discovered", "person")})
PROJECT = {
    "matrix": words("table", "full", *MATRIX_FILES), "test": args, "smoke": args,
    "install": st.lists(words("six", "six==1.16.0", ".", "-r req.txt", "numpy<2; python_version < '3.7'"), max_size=3),
    "constraints": st.lists(constraint, max_size=2),
    "env": st.dictionaries(words("APP", "TF_CPP_MIN_LOG_LEVEL", "PYTHONPATH"), words("1", "src"), max_size=2),
    "pass_env": st.lists(words("APP_*", "DATA_DIR"), max_size=2), "timeout": st.integers(-5, 5000),
    "sources": st.lists(words("tests", "*.py", "req.txt"), min_size=1, max_size=3), "bench": args,
    "cores": st.one_of(st.integers(-1, 70), st.floats(allow_nan=True)),
}
cell = st.fixed_dictionaries({"python": st.one_of(words("3.6", "3.7"), st.lists(words("3.6", "3.7"), max_size=2)),
                              "tensorflow": words("1.15.5", "1.14.0")},
                             optional={"keras": words("2.2.5"), "six": words("1.16.0", "1.16.0\n")})
MATRIX = {
    "description": words("mine"), "extends": words("table", "full", *MATRIX_FILES), "remove": st.lists(
        words("py3.6-tf1.12-keras2.2.4", "py3.7-tf1.15-keras2.2.5"), max_size=2),
    "cells": st.lists(cell, max_size=3), "purpose": words("migration", "compatibility"),
    "packages": st.dictionaries(words("six", "tensorflow"), st.fixed_dictionaries(
        {"label": words("six", "tf")}, optional={"id_parts": st.integers(0, 4), "pins_as": words("tensorflow")}),
        max_size=2),
    "pythons": st.dictionaries(words("3.6", "3.7", "3.11"), st.fixed_dictionaries(
        {}, optional={"pip": words("pip<21"), "tools": st.lists(words("pytest==6.2.5"), max_size=2)}), max_size=2),
    "constraints": st.lists(constraint, max_size=2),
}


def table(keys: dict, extra=()):
    return st.fixed_dictionaries({}, optional={k: mostly(v) for k, v in keys.items()}).flatmap(
        lambda d: st.dictionaries(st.sampled_from(list(extra) or ["x"]), anything, max_size=1 if extra else 0).map(
            lambda more: {**d, **more}))


@st.composite
def project_files(draw):
    """(tfpin.toml bytes, matrix file bytes or None, the matrix file's name)."""
    config = draw(table(PROJECT, extra=["tools", "description"] if draw(RARELY) else ()))
    matrix = None
    if draw(st.booleans()):
        config["matrix"] = draw(st.sampled_from(MATRIX_FILES))
        top = draw(table(MATRIX))
        if draw(st.booleans()):
            top.setdefault("extends", "table")
        matrix = _dump(top, draw)
    return _dump(config, draw), matrix, config.get("matrix")


def _dump(data, draw) -> bytes:
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError):  # a value TOML cannot hold (NaN is fine; some keys are not)
        text = ""
    raw = text.encode("utf-8")
    if draw(RARELY):
        raw = text.encode("latin-1", "replace") + b"\nx = \"\xe9\"\n"  # not UTF-8
    return raw


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    (root / "tests").mkdir()
    (root / "tests" / "test_a.py").write_text("def test_a():\n    pass\n")
    (root / "req.txt").write_text("six\n")
    return root


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(files=project_files())
@example(files=(b'matrix = "m.toml"\n', b"cells = []\nconstraints = 0\n", "m.toml"))  # found by this fuzz
def test_any_config_gets_a_verdict_or_a_message_never_a_traceback(base, files):
    config, matrix, name = files
    (base / "tfpin.toml").write_bytes(config)
    for old in MATRIX_FILES:
        (base / old).unlink(missing_ok=True)
    if matrix is not None:
        (base / name).write_bytes(matrix)
    for out in (base / "wf.yml", base / "gl.yml"):
        out.unlink(missing_ok=True)
    cwd = os.getcwd()
    os.chdir(base)
    try:
        for argv in (["list", "--json"], ["ci", "github", "--tfpin", "tfpin==0", "--output", "wf.yml"],
                     ["ci", "gitlab", "--tfpin", "tfpin==0", "--output", "gl.yml"]):
            err = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                code = cli.main(argv)
            assert code in (0, 2), (argv, code, err.getvalue())
            hypothesis.event("%s: exit %d" % (" ".join(argv[:2]), code))  # --hypothesis-show-statistics
            if code == 2:
                assert err.getvalue().startswith("tfpin: error: "), err.getvalue()
                break
    finally:
        os.chdir(cwd)
    for out in (base / "wf.yml", base / "gl.yml"):
        if out.exists():
            text = out.read_text()
            yaml.safe_load(text)
            assert not [bad for bad in INJECTIONS if bad in text], text


def test_the_fuzz_reaches_past_validation(base):
    """Not a fuzz that only ever meets the first check: a valid pair of files passes all three commands."""
    (base / "tfpin.toml").write_bytes(tomli_w.dumps({"matrix": "m.toml", "test": ["tests"]}).encode())
    (base / "m.toml").write_bytes(tomli_w.dumps({"extends": "table", "remove": ["py3.6-tf1.12-keras2.2.4"]}).encode())
    cwd = os.getcwd()
    os.chdir(base)
    try:
        for argv in (["list", "--json"], ["ci", "github", "--tfpin", "tfpin==0", "--output", "wf.yml"]):
            with contextlib.redirect_stdout(io.StringIO()):
                assert cli.main(argv) == 0
    finally:
        os.chdir(cwd)
    assert Path(base / "wf.yml").exists()
