"""The files other tools read (tfpin/report/compat.py), from one real run of a TF-free project: compat.json against
the schema tfpin ships, the badge against the run's cells, and the constraints files installed with `-c` into fresh
environments, which must resolve to exactly what the recommended cells had installed.

The project: six 1.16.0 on Python 3.6 and 3.7 (its suite passes) and six 1.15.0 on 3.7 (its suite asserts 1.16.0,
so that cell fails for real), so the recommendation, the badge and the colour each have a failing set to leave out; a
pin on 3.7 (iniconfig<2) that the 3.7 constraints file must carry as the exact release it gave.
"""
import copy
import json
import subprocess
import sys

import jsonschema
import pytest
from faultkit import PYTHONS, make_project, tfpin

from tfpin.cell.installer import parse_freeze, uv_binary
from tfpin.cell.interpreters import find
from tfpin.report import compat

MATRIX = """
description = "compat file: six 1.16.0 on two Pythons, six 1.15.0 (which the suite refuses) on one"

[[cells]]
python = ["3.6", "3.7"]
six = "1.16.0"

[[cells]]
python = "3.7"
six = "1.15.0"

[[constraints]]
pin = "iniconfig<2"
when = { python = "==3.7" }
reason = "a pin of the fixture: iniconfig 2.0.0 is what 3.7 resolves without it"

[packages.six]
label = "six"
id_parts = 3
""" + PYTHONS
GOOD = ("py3.6-six1.16.0", "py3.7-six1.16.0")
BAD = "py3.7-six1.15.0"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One real `tfpin matrix` (exit 1: the six 1.15.0 cell fails), then `tfpin report --constraints DIR`."""
    base = tmp_path_factory.mktemp("compat")
    project = make_project(base / "p", matrix=MATRIX)
    matrix = tfpin(project, "matrix", envs=base / "envs")
    assert matrix.returncode == 1, matrix.stdout + matrix.stderr
    # as docs/compat-file.md says: under reports/, which is not among the sources the cells' verdicts are keyed by
    joined = tfpin(project, "report", "--constraints", "reports/constraints", envs=base / "envs")
    return project, project / "reports" / "constraints", matrix, joined


def load(project, stem):
    return json.loads((project / "reports" / (stem + "-faults.json")).read_text())


def schema():
    return json.loads(compat.SCHEMA_FILE.read_text())


def test_compat_json_of_a_real_run_validates_and_says_what_ran(run):
    project, _, _, _ = run
    doc, report = load(project, "compat"), load(project, "matrix")
    validator = jsonschema.Draft202012Validator(schema())
    validator.validate(doc)
    assert schema()["$id"] == doc["$schema"] == compat.SCHEMA_ID and doc["schema_version"] == 1
    cells = {c["id"]: c for c in doc["cells"]}
    assert {i: c["status"] for i, c in cells.items()} == {GOOD[0]: "passed", GOOD[1]: "passed", BAD: "failed"}
    assert cells[BAD]["requirements"] == {"six": "1.15.0"} and "1.16.0" in cells[BAD]["reason"]
    assert cells[GOOD[0]]["definition"]["requirements"] == ["six==1.16.0", "pytest==7.0.1", "pytest-timeout==2.1.0"]
    for cell_id, cell in cells.items():  # the whole installed set: exactly the cell's lock
        lock = project / "reports" / "locks" / (cell_id + ".txt")
        assert cell["resolved"] == parse_freeze(lock.read_text()) and cell["resolved"]["six"] == \
            cell["requirements"]["six"]
    assert cells[GOOD[1]]["resolved"]["pytest"] == "7.4.4" and cells[GOOD[1]]["resolved"]["iniconfig"] == "1.1.1"
    pin = {"pin": "iniconfig<2", "reason": "a pin of the fixture: iniconfig 2.0.0 is what 3.7 resolves without it",
           "origin": "person"}
    assert cells[GOOD[1]]["pins"] == cells[BAD]["pins"] == [pin] and cells[GOOD[0]]["pins"] == []
    assert cells[GOOD[1]]["definition"]["constraints"] == ["iniconfig<2"]
    rec = doc["recommendation"]
    assert rec["requirements"] == {"six": "1.16.0"} and rec["cells"] == list(GOOD) and rec["python"] == ["3.6", "3.7"]
    assert rec["pin_lines"] == report["recommendation"]["constraints"] == [
        "six==1.16.0", 'iniconfig<2; python_version == "3.7"']
    assert doc["sources_digest"] == report["cells"][0]["harness"]["sources"] and len(doc["sources_digest"]) == 16
    assert doc["report"]["complete"] is True and doc["report"]["file"] == "matrix-faults.json"


def test_the_schema_refuses_a_broken_document(run):
    project, _, _, _ = run
    validator = jsonschema.Draft202012Validator(schema())
    doc = load(project, "compat")
    missing = copy.deepcopy(doc)
    del missing["cells"][0]["status"]
    wrong_type = copy.deepcopy(doc)
    wrong_type["cells"][0]["tests"]["passed"] = "3"
    unknown_status = copy.deepcopy(doc)
    unknown_status["cells"][1]["status"] = "green"
    no_recommendation = copy.deepcopy(doc)
    del no_recommendation["recommendation"]
    for broken, words in ((missing, "'status' is a required property"), (wrong_type, "'3' is not of type 'integer'"),
                          (unknown_status, "'green' is not one of"),
                          (no_recommendation, "'recommendation' is a required property")):
        errors = [e.message for e in validator.iter_errors(broken)]
        assert any(words in e for e in errors), errors


def test_the_badge_names_the_sets_that_passed(run):
    project, _, _, _ = run
    report = load(project, "matrix")
    passed = sorted(c["python"] for c in report["cells"] if c["status"] == "passed")
    assert passed == ["3.6", "3.7"]
    # six 1.15 failed on 3.7: it is not on the badge, and a failed cell makes it yellow, not green
    assert load(project, "badge") == {"schemaVersion": 1, "label": "tfpin", "message": "SIX 1.16 | py3.6-3.7",
                                      "color": "yellow"}


def test_constraints_files_name_their_source(run):
    project, out, _, joined = run
    assert joined.returncode == 1, joined.stderr  # the report's own rule: a cell failed
    assert "constraints for pip install -c" in joined.stdout
    assert sorted(p.name for p in out.iterdir()) == ["constraints-py3.6.txt", "constraints-py3.7.txt"]
    doc = load(project, "compat")
    text = (out / "constraints-py3.7.txt").read_text()
    assert "cell %s, which passed (3 tests passed)" % GOOD[1] in text
    assert "sources digest %s" % doc["sources_digest"] in text and "matrix-faults.json" in text
    assert "# Use: pip install -c constraints-py3.7.txt six==1.16.0" in text
    assert "\niniconfig==1.1.1\n" in text and "\nsix==1.16.0\n" in text  # the pin, as the exact release it gave


def fresh_env_with(constraints, cell, base, installer):
    """A new env of the cell's Python, the cell's top-level lines installed under `-c constraints`; its freeze."""
    interpreter, _ = find(cell["python"])
    env = base / ("fresh-%s-%s" % (installer, cell["python"]))
    lines = cell["definition"]["requirements"] + cell["definition"]["install"]
    if installer == "uv":
        subprocess.run([uv_binary(), "venv", "-q", "-p", interpreter, str(env)], check=True)
        install = [uv_binary(), "pip", "install", "-q", "--python", str(env / "bin" / "python")]
        freeze = [uv_binary(), "pip", "freeze", "--python", str(env / "bin" / "python")]
    else:
        subprocess.run([interpreter, "-m", "venv", str(env)], check=True)
        install = [str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        freeze = [str(env / "bin" / "python"), "-m", "pip", "freeze", "--all"]
    done = subprocess.run(install + ["-c", str(constraints)] + lines, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return parse_freeze(subprocess.run(freeze, capture_output=True, text=True, check=True).stdout)


@pytest.mark.parametrize("python,installer", [("3.6", "uv"), ("3.7", "pip")])
def test_a_constraints_file_installs_exactly_the_recommended_set(run, tmp_path, python, installer):
    project, out, _, _ = run
    doc = load(project, "compat")
    cell = next(c for c in doc["cells"] if c["id"] in doc["recommendation"]["cells"] and c["python"] == python)
    installed = fresh_env_with(out / ("constraints-py%s.txt" % python), cell, tmp_path, installer)
    if installer == "pip":  # a stdlib venv brings its own pip and setuptools, which the cell's uv env has not
        seeded = {k: v for k, v in installed.items() if k in ("pip", "setuptools") and k not in cell["resolved"]}
        installed = {k: v for k, v in installed.items() if k not in seeded}
    assert installed == cell["resolved"] and installed["six"] == "1.16.0"
    if python == "3.7":  # the pin holds through the constraints file alone (the install lines do not carry it)
        assert installed["iniconfig"] == "1.1.1"


def test_no_constraints_from_a_subset_or_a_file_in_the_way(run, tmp_path):
    project, _, _, _ = run
    # the 1.16.0 cell of 3.6 alone: its report is green (0) but partial, so nothing is written and the exit is 1
    subset = tfpin(project, "report", "--cells", GOOD[0], "--constraints", str(tmp_path / "c"))
    assert subset.returncode == 1, subset.stdout + subset.stderr
    assert "matrix-faults-partial.json (matrix faults) is not a whole run of its matrix" in subset.stderr
    assert not (tmp_path / "c").exists() and "Traceback" not in subset.stderr
    assert load(project, "badge")["message"] == "SIX 1.16 | py3.6-3.7"  # the full run's badge is untouched
    failing = tfpin(project, "report", "--cells", BAD, "--constraints", str(tmp_path / "c"))
    assert failing.returncode == 1 and "recommends nothing" in failing.stderr
    assert "no requirement set passed" in failing.stderr
    (tmp_path / "f").write_text("")
    in_the_way = tfpin(project, "report", "--constraints", str(tmp_path / "f"))
    assert in_the_way.returncode == 2 and "--constraints %s: not a directory" % (tmp_path / "f") in in_the_way.stderr
    assert "Traceback" not in in_the_way.stderr + failing.stderr


def test_schema_ships_as_package_data():
    """The schema sits inside the package directory hatch builds the wheel from (test_installed checks the wheel)."""
    assert compat.SCHEMA_FILE.parent.parent.name == "tfpin" and compat.SCHEMA_FILE.is_file()
    jsonschema.Draft202012Validator.check_schema(schema())
    assert sys.modules["tfpin.report.compat"].SCHEMA_VERSION == schema()["properties"]["schema_version"]["const"]
