"""`tfpin migrate` for real: TensorFlow's own tf_upgrade_v2 from a real TF 1.15 cell env converts a copy of a
user's project, and the converted copy's tests run in real cells (faultkit's TF-free ones, so the suite stays
cheap: the tests read the converted source). examples/digits_tf1's README shows the same command on the
TF 2.0 and 2.15 cells.
"""
import json

from faultkit import FAULT_CELL, GOOD_CELL, make_project, tfpin
from test_faults_projects import write

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


def test_migrate_converts_a_copy_and_runs_its_tests_naming_what_the_converter_left(tmp_path):
    project = make_project(tmp_path / "p")
    write(project, {"mylib/__init__.py": "", "mylib/model.py": MODEL, "tests/test_converted.py": TESTS})
    out = tfpin(project, "migrate", "--matrix", "faults.toml", "--from", "py3.7-tf1.15-keras2.2.5", "--keep",
                envs=tmp_path / "envs", timeout=1200)
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
