"""`tfpin migrate` for real: TensorFlow's own tf_upgrade_v2 from a real TF 1.15 cell env converts a copy of a
user's project, and the converted copy's tests run in real cells (faultkit's TF-free ones, so the suite stays
cheap: the tests read the converted source). examples/digits_tf1's README shows the same command on the
TF 2.0 and 2.15 cells.
"""
import json
import subprocess

import pytest
from faultkit import FAULT_CELL, GOOD_CELL, make_project, tfpin
from test_faults_projects import write

FROM = "py3.7-tf1.15-keras2.2.5"


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    return tmp_path_factory.mktemp("envs")  # one TF 1.15 env (the converter's) for both tests

MODEL = """
import tensorflow as tf


def build():
    x = tf.placeholder(tf.float32, [None, 4])
    return tf.contrib.layers.flatten(x)
"""

TESTS = """
import os

SOURCE = open(os.path.join(os.path.dirname(__file__), "..", "mylib", "model.py")).read()


def test_placeholder_is_spelled_for_tf2():
    assert "tf.compat.v1.placeholder" in SOURCE


def test_contrib_is_gone():
    assert "tf.contrib" not in SOURCE, "tf.contrib is still called"


def _never_called():
    return tf.contrib.slim.arg_scope([])
"""


def test_migrate_converts_a_copy_and_runs_its_tests_naming_what_the_converter_left(tmp_path, envs):
    project = make_project(tmp_path / "p")
    write(project, {"mylib/__init__.py": "", "mylib/model.py": MODEL, "tests/test_converted.py": TESTS})
    out = tfpin(project, "migrate", "--matrix", "faults.toml", "--from", FROM, "--keep", envs=envs, timeout=1200)
    assert out.returncode == 1, out.stdout + out.stderr  # a converted test fails: the cells did not pass
    assert "tf.placeholder(" in (project / "mylib" / "model.py").read_text()  # the original is never written to
    converted = project / ".tfpin" / "migrate" / "converted"
    assert "tf.compat.v1.placeholder(" in (converted / "mylib" / "model.py").read_text()  # --keep: there to diff
    summary = json.loads((project / "reports" / "migrate" / "migrate.json").read_text())
    notes = {(n["file"], n["line"], n["level"]) for n in summary["converter_notes"]}
    assert ("mylib/model.py", 6, "INFO") in notes and ("mylib/model.py", 7, "ERROR") in notes
    assert [c["cell"] for c in summary["cells"]] == [GOOD_CELL, FAULT_CELL]
    for cell in summary["cells"]:
        assert cell["status"] == "failed" and cell["tests"]["passed"] == 4  # faultkit's 3 + the placeholder one
        (failing,) = cell["failing"]
        assert failing["test"] == "tests/test_converted.py::test_contrib_is_gone"
        assert failing["error"].startswith("AssertionError: tf.contrib is still called")
        (note,) = failing["converter"]  # the converter's unresolved line in that test's own file
        assert note.startswith("tests/test_converted.py:16: ERROR: Using member tf.contrib.slim.arg_scope")
    md = (project / "reports" / "migrate" / "migrate.md").read_text()
    assert "| `%s` | failed | 4 | 1 | 0 | 0 | AssertionError: tf.contrib is still called" % GOOD_CELL in md
    assert (project / "reports" / "migrate" / "tf_upgrade_v2.txt").is_file()


def test_an_edit_of_the_original_reruns_the_converted_copy(tmp_path, envs):
    """The converted copy lives under .tfpin/, which git ignores (tfpin init says so): its verdicts are re-used
    only while the copy's content is the same, never because git lists none of its files."""
    project = make_project(tmp_path / "p")
    model = MODEL.replace("return tf.contrib.layers.flatten(x)", "return x\n\n\nANSWER = 42")
    write(project, {".gitignore": ".tfpin/\nreports/\n", "mylib/__init__.py": "", "mylib/model.py": model,
                    "tests/test_converted.py": "import os\n\nSOURCE = " + TESTS.split("SOURCE = ")[1].split("\n")[0]
                    + "\n\n\ndef test_answer():\n    assert 'ANSWER = 42' in SOURCE, 'the model says ' + "
                    "SOURCE.split('ANSWER = ')[1]\n"})
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "p"]):
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)
    migrate = ("migrate", "--matrix", "faults.toml", "--from", FROM, "--cells", FAULT_CELL)
    first = tfpin(project, *migrate, envs=envs, timeout=1200)
    assert first.returncode == 0, first.stdout + first.stderr
    again = tfpin(project, *migrate, envs=envs, timeout=1200)
    assert again.returncode == 0 and "(cached" in again.stdout, again.stdout
    (project / "mylib" / "model.py").write_text(model.replace("ANSWER = 42", "ANSWER = 41"))
    out = tfpin(project, *migrate, envs=envs, timeout=1200)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "changed since its last run: sources" in out.stdout
    result = json.loads((project / "reports" / "migrate" / "cells" / (FAULT_CELL + ".json")).read_text())
    assert result["status"] == "failed" and "cached_from" not in result
    assert "the model says 41" in result["reason"]
