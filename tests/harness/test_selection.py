"""Cells chosen by what they are: `--cells` takes ids, conditions on a cell's Python and pinned releases (PEP 440
specifiers, read by packaging) and `!` to drop; a matrix file can `exclude` the same way. Through the real CLI:
`tfpin list` on the built-in matrices (the expected cells are read off matrices/table.toml and distributions.toml by
hand), a real run of a TF-free project, and bad selections that must exit 2 naming what is allowed."""
import json
import subprocess
import sys

import pytest
from conftest import ROOT
from faultkit import MATRIX, harness_env, make_project, report, tfpin


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    return tmp_path_factory.mktemp("envs")


def listed(*args, cwd=ROOT):
    out = subprocess.run([sys.executable, "-m", "tfpin", "list", "--json", *args], cwd=cwd, capture_output=True,
                         text=True, env=harness_env())
    assert out.returncode == 0, out.stderr
    return [c["id"] for c in json.loads(out.stdout)]


@pytest.mark.parametrize("selection, expected", [
    ("tensorflow>=1.14", ["py3.6-tf1.14-keras2.2.5", "py3.7-tf1.14-keras2.2.5", "py3.6-tf1.15-keras2.2.5",
                          "py3.7-tf1.15-keras2.2.5"]),
    ("python==3.7,keras==2.2.5", ["py3.7-tf1.14-keras2.2.5", "py3.7-tf1.15-keras2.2.5"]),
    ("!python==3.6", ["py3.7-tf1.12-keras2.2.4", "py3.7-tf1.13-keras2.2.4", "py3.7-tf1.14-keras2.2.5",
                      "py3.7-tf1.15-keras2.2.5"]),
    ("tensorflow~=1.13.0,!py3.6-tf1.13-keras2.2.4", ["py3.7-tf1.13-keras2.2.4"]),
    ("keras<2.2.5,tensorflow!=1.12.3", ["py3.6-tf1.13-keras2.2.4", "py3.7-tf1.13-keras2.2.4"]),
    # ids alone keep the order given, as before
    ("py3.7-tf1.15-keras2.2.5,py3.6-tf1.12-keras2.2.4", ["py3.7-tf1.15-keras2.2.5", "py3.6-tf1.12-keras2.2.4"]),
])
def test_a_selection_takes_the_cells_whose_python_and_pins_satisfy_it(selection, expected):
    assert listed("--cells", selection) == expected


def test_a_build_that_pins_as_another_package_answers_for_it():
    """intel-tensorflow 1.15.2 `pins_as` tensorflow (matrices/distributions.toml): `tensorflow==1.15.2` takes it."""
    assert listed("--matrix", "distributions", "--cells", "tensorflow==1.15.2") == [
        "py3.6-intel-tf1.15-keras2.2.5", "py3.7-intel-tf1.15-keras2.2.5"]


@pytest.mark.parametrize("selection, said", [
    ("tensorflw>=1.14", "names 'tensorflw', which no cell of this matrix pins; the factors are: "),
    ("tensorflow=>1.14", "has no valid PEP 440 specifier"),
    ("tensorflow>=9", "selects no cell of matrix 'table'"),
    ("python==3.7,!", "is not a selection; expected comma-separated cell ids and conditions"),
    ("py3.9-tf9.9", "unknown cell id(s) py3.9-tf9.9"),
])
def test_a_bad_selection_exits_2_naming_the_term_and_what_is_allowed(tmp_path, selection, said):
    out = subprocess.run([sys.executable, "-m", "tfpin", "matrix", "--cells", selection, "--reports",
                          str(tmp_path / "r")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and said in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "r" / "cells").exists()  # nothing ran


def test_a_matrix_file_excludes_by_the_same_selections(tmp_path):
    project = make_project(tmp_path / "p", matrix=MATRIX.replace('description = ', 'exclude = ["python==3.6"]\n'
                                                                 'description = ', 1))
    assert listed(cwd=project) == ["py3.7-six1.16.0"]
    for bad, said in (('exclude = ["python==3.9"]', "selects no cell"), ('exclude = "python==3.6"',
                                                                         "must be a list of selections"),
                      ('exclude = ["python>=3.6"]', "takes out every cell")):
        (project / "faults.toml").write_text(MATRIX.replace('description = ', bad + '\ndescription = ', 1))
        out = subprocess.run([sys.executable, "-m", "tfpin", "list"], cwd=project, capture_output=True, text=True,
                             env=harness_env())
        assert out.returncode == 2 and "faults.toml: key 'exclude'" in out.stderr and said in out.stderr, out.stderr


def test_a_run_by_condition_runs_just_those_cells_and_is_a_subset(tmp_path, envs):
    project = make_project(tmp_path / "p")
    out = tfpin(project, "matrix", "--cells", "python>=3.7", envs=envs)
    assert out.returncode == 0, out.stdout + out.stderr
    partial = report(project, "matrix-faults-partial")
    assert [c["id"] for c in partial["cells"]] == ["py3.7-six1.16.0"] and partial["partial"] is True
    assert not (project / "reports" / "matrix-faults.json").exists()  # never the full matrix's report
