"""tfpin as a user gets it: the wheel installed into a fresh venv outside the repository, run on another project.

Real TensorFlow cells (one that cannot import the project's code, one that can), built by the
installed tfpin from the project's own directory with every default (envs in <project>/.tfpin,
reports in <project>/reports). About a minute on a warm uv cache.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

PROJECT_TESTS = '''
import os

import tensorflow as tf

tf1 = tf.compat.v1  # TF 1.13+; on 1.12 this line is the import error the report must quote


def pinned_tensorflow():
    return [t for t in os.environ["TFPIN_CELL"].split() if t.startswith("tensorflow==")][0].split("==")[1]


def test_the_cell_runs_the_pinned_release():
    assert tf.__version__ == pinned_tensorflow()


def test_a_graph_runs():
    graph = tf1.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf1.float32, [2])
        with tf1.Session() as session:
            assert list(session.run(x * 2.0, {x: [1.0, 2.0]})) == [2.0, 4.0]
'''
CELLS = "py3.6-tf1.12-keras2.2.4,py3.7-tf1.15-keras2.2.5"


def uv():
    import uv as uv_package

    return uv_package.find_uv_bin()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """README's install, literally: `python3 -m venv v && v/bin/pip install <checkout>`, outside the repository."""
    base = tmp_path_factory.mktemp("installed")
    subprocess.run([sys.executable, "-m", "venv", str(base / "v")], check=True)
    install = subprocess.run([str(base / "v" / "bin" / "pip"), "install", "-q", str(ROOT)], cwd=base,
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    return base / "v" / "bin" / "tfpin"


def test_uv_tool_install_gives_the_command(tmp_path):
    env = dict(os.environ, UV_TOOL_DIR=str(tmp_path / "tools"), UV_TOOL_BIN_DIR=str(tmp_path / "bin"))
    out = subprocess.run([uv(), "tool", "install", str(ROOT)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    version = subprocess.run([str(tmp_path / "bin" / "tfpin"), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("tfpin ")


def test_installed_tfpin_reports_its_version_and_builtins(installed, tmp_path):
    out = subprocess.run([str(installed), "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("tfpin ")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tfpin.toml").write_text('matrix = "full"\ntest = ["tests"]\n')
    listed = subprocess.run([str(installed), "list", "--json"], capture_output=True, text=True, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 16


def test_installed_tfpin_ships_the_compat_schema(installed, tmp_path):
    """compat.json names a schema that ships inside the package (package data), byte for byte the checkout's."""
    python = installed.parent / "python"
    where = subprocess.run([str(python), "-c", "from tfpin.report import compat; print(compat.SCHEMA_FILE)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    shipped = where.stdout.strip()
    assert "site-packages" in shipped and not shipped.startswith(str(ROOT))
    assert open(shipped).read() == (ROOT / "tfpin" / "schemas" / "compat-1.json").read_text()


def test_installed_tfpin_runs_another_projects_tests_in_real_tf_cells(installed, tmp_path):
    project = tmp_path / "someone-elses-project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_graph.py").write_text(textwrap.dedent(PROJECT_TESTS))
    (project / "tfpin.toml").write_text('matrix = "table"\ntest = ["tests"]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    out = subprocess.run([str(installed), "matrix", "--cells", CELLS], cwd=project / "tests", env=env,
                         capture_output=True, text=True, timeout=1800)
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-3000:]  # the 1.12 cell fails: never green
    report = json.loads((project / "reports" / "matrix-partial.json").read_text())
    cells = {c["id"]: c for c in report["cells"]}
    old, new = cells["py3.6-tf1.12-keras2.2.4"], cells["py3.7-tf1.15-keras2.2.5"]
    assert old["status"] == "failed" and "has no attribute 'v1'" in old["reason"], old["reason"]
    assert new["status"] == "passed" and new["tests"]["passed"] == 2
    assert (project / ".tfpin" / "envs" / "py3.7-tf1.15-keras2.2.5" / "bin" / "python").exists()
    rec = report["recommendation"]
    assert rec["requirements"] == {"tensorflow": "1.15.5", "keras": "2.2.5"} and rec["python"] == ["3.7"]
    assert rec["partial"] is True
    from tfpin.config import matrix  # the installed tfpin's built-in table: its pins for this cell are recommended
    (cell,) = matrix.load("table").select(["py3.7-tf1.15-keras2.2.5"])
    assert set(cell.constraint_lines()) <= set(rec["constraints"]), rec["constraints"]
    assert "tensorflow 1.12.3 + keras 2.2.4" not in rec["summary"]
