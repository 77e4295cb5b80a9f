"""`tfpin ci gitlab` on a user's project (examples/digits_tf1 inside this repository): the generated
.gitlab-ci.yml is valid against GitLab's own CI schema (check-jsonschema ships it, so this works offline),
has one job per cell with its evidence and JUnit, and a report job that needs them all and always runs."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

REQUIREMENT = "git+https://gitlab.example.com/tools/tfpin@0123456789abcdef0123456789abcdef01234567"


def generate(tmp_path, *args):
    out = tmp_path / "gitlab-ci.yml"
    run = subprocess.run([sys.executable, "-m", "tfpin", "ci", "gitlab", "--tfpin", REQUIREMENT, "--output", str(out),
                          *args], cwd=ROOT / "examples" / "digits_tf1", capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    return out


def check_jsonschema(path):
    beside = Path(sys.executable).parent / "check-jsonschema"  # requirements/host.txt installs it beside pytest
    tool = str(beside) if beside.exists() else shutil.which("check-jsonschema")
    if tool is None:
        pytest.skip("check-jsonschema is not installed; requirements/host.txt lists it")
    return subprocess.run([tool, "--builtin-schema", "vendor.gitlab-ci", str(path)], capture_output=True, text=True)


def test_the_pipeline_is_valid_against_gitlabs_schema_and_joins_every_cell(tmp_path):
    yaml = pytest.importorskip("yaml")
    path = generate(tmp_path)
    checked = check_jsonschema(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    doc = yaml.safe_load(path.read_text())
    listed = subprocess.run([sys.executable, "-m", "tfpin", "list"], cwd=ROOT / "examples" / "digits_tf1",
                            capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    cells = [line.split()[0] for line in listed.stdout.splitlines()]
    assert len(cells) == 8 and doc["variables"]["TFPIN_REQUIREMENT"] == REQUIREMENT
    for cell in cells:
        job = doc[cell]
        assert job["stage"] == "cells" and job["image"] == "python:%s-bullseye" % cell[2:5]
        assert job["script"][1] == "cd examples/digits_tf1"
        assert "tfpin cell %s --matrix table || test $? -eq 3" % cell in job["script"][-1]
        assert job["artifacts"]["when"] == "always"
        assert job["artifacts"]["reports"]["junit"] == "examples/digits_tf1/reports/junit/%s.xml" % cell
        assert "examples/digits_tf1/reports/cells/%s.json" % cell in job["artifacts"]["paths"]
    report = doc["report"]
    assert report["when"] == "always" and [n["job"] for n in report["needs"]] == cells
    assert all(n["artifacts"] for n in report["needs"])
    assert "tfpin report --matrix table" in report["script"][-1]


def test_the_schema_check_bites(tmp_path):
    path = generate(tmp_path)
    broken = tmp_path / "broken.yml"
    broken.write_text(path.read_text().replace("when: always", "when: sometimes", 1))
    assert check_jsonschema(broken).returncode != 0
