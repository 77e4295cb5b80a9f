"""`tfpin ci gitlab` on a user's project (examples/digits_tf1 inside this repository): the generated
.gitlab-ci.yml is valid against GitLab's own CI schema (check-jsonschema ships it, so this works offline),
has one job per cell with its evidence and JUnit, and a report job that needs them all and always runs."""
import json
import re
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
    for cell in cells:  # the readers between cells: in each cell, after every cell job, with all their evidence
        job = doc[cell + "-between"]
        assert job["stage"] == "between" and job["when"] == "always" and [n["job"] for n in job["needs"]] == cells
        assert "tfpin cross %s --matrix table" % cell in job["script"][-1]
        assert job["artifacts"]["paths"] == ["examples/digits_tf1/reports/cross/"]
    assert doc["stages"] == ["cells", "between", "report"]
    report = doc["report"]
    assert report["when"] == "always" and [n["job"] for n in report["needs"]] == cells + [c + "-between" for c in cells]
    assert all(n["artifacts"] for n in report["needs"])
    assert "tfpin report --matrix table" in report["script"][-1]
    assert report["artifacts"]["paths"] == ["examples/digits_tf1/reports/%s" % f for f in (
        "matrix.md", "matrix.html", "matrix.json", "compat.json", "badge.json")]


def test_the_schema_check_bites(tmp_path):
    path = generate(tmp_path)
    broken = tmp_path / "broken.yml"
    broken.write_text(path.read_text().replace("when: always", "when: sometimes", 1))
    assert check_jsonschema(broken).returncode != 0


def gitlab_ci_local(tmp_path, fault="", project=None):
    """The generated pipeline, run by gitlab-ci-local's shell executor on this machine: a TF-free project with two
    cells in a git repository, tfpin installed in the jobs from this checkout's commit, as a user's CI would."""
    import json
    import os

    from faultkit import make_project

    tool = shutil.which("gitlab-ci-local")
    if tool is None or shutil.which("rsync") is None:
        pytest.skip("gitlab-ci-local (npm) and rsync are not installed; .ci/run installs them")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if commit.returncode != 0:
        pytest.skip("not a git checkout: %s" % commit.stderr.strip())
    project = project or make_project(tmp_path / "p", fault=fault, fault_cell="py3.7")
    git = ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    for args in (["init", "-q"], ["remote", "add", "origin", "https://gitlab.example.com/team/p.git"]):
        subprocess.run(git + args, cwd=project, check=True)
    # The machine's own settings (index, certificates) stay; uv is the host's; tfpin is NOT on PYTHONPATH in the
    # jobs: they must run the tfpin their own script installs.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = "%s:%s" % (Path(sys.executable).parent, env.get("PATH", "/usr/bin:/bin"))
    subprocess.run([sys.executable, "-m", "tfpin", "ci", "gitlab", "--tfpin",
                    "git+file://%s@%s" % (ROOT, commit.stdout.strip())], cwd=project, check=True,
                   env=dict(env, PYTHONPATH=str(ROOT)))
    subprocess.run(git + ["add", "-A"], cwd=project, check=True)
    subprocess.run(git + ["commit", "-q", "-m", "project"], cwd=project, check=True)
    run = subprocess.run([tool, "--force-shell-executor", "--variable",
                          "TFPIN_PYTHON=%s" % os.path.realpath(sys.executable)], cwd=project, capture_output=True,
                         text=True, timeout=900, env=env)
    joined = project / ".gitlab-ci-local" / "artifacts" / "report" / "reports" / "matrix-faults.json"
    return run, json.loads(joined.read_text()) if joined.exists() else None


def test_the_generated_pipeline_runs_end_to_end_and_the_report_job_joins_every_cell(tmp_path):
    run, joined = gitlab_ci_local(tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    for job in ("py3.6-six1.16.0", "py3.7-six1.16.0", "report"):
        assert re.search(r"PASS\s+%s" % re.escape(job), run.stdout), run.stdout[-3000:]
    assert {c["id"]: c["status"] for c in joined["cells"]} == {"py3.6-six1.16.0": "passed", "py3.7-six1.16.0": "passed"}
    assert joined["recommendation"]["requirements"] == {"six": "1.16.0"}
    artifacts = tmp_path / "p" / ".gitlab-ci-local" / "artifacts" / "report" / "reports"
    compat = json.loads((artifacts / "compat-faults.json").read_text())  # the report job's views for other tools
    assert compat["recommendation"]["pin_lines"] == ["six==1.16.0"] and compat["report"]["complete"] is True
    assert json.loads((artifacts / "badge-faults.json").read_text())["message"] == "SIX 1.16 | py3.6-3.7"


@pytest.mark.parametrize("fault", ["", "crash-reader"])
def test_parity_the_pipeline_gives_the_verdicts_and_exit_code_of_tfpin_matrix(tmp_path, fault):
    """One project with readers between cells, through `tfpin matrix` and through the generated pipeline under
    gitlab-ci-local: the same verdicts between cells and the same outcome (a crashing reader fails both)."""
    from faultkit import harness_env
    from test_cross_api import comparable, project_with_artifacts

    local = project_with_artifacts(tmp_path / "local", fault=fault)
    matrix_run = subprocess.run([sys.executable, "-m", "tfpin", "matrix"], cwd=local, capture_output=True, text=True,
                                env=harness_env(), timeout=900)
    local_cross = json.loads((local / "reports" / "matrix-faults.json").read_text())["cross"]
    run, joined = gitlab_ci_local(tmp_path, project=project_with_artifacts(tmp_path / "ci", fault=fault))
    assert (run.returncode == 0) == (matrix_run.returncode == 0) == (not fault), run.stdout[-3000:]
    for job in ("py3.6-six1.16.0-between", "py3.7-six1.16.0-between", "report"):
        assert re.search(r"%s\s+%s" % ("FAIL" if fault else "PASS", re.escape(job)), run.stdout), run.stdout[-3000:]
    assert comparable(joined["cross"]) == comparable(local_cross)


def test_a_failing_cell_fails_its_job_and_the_report_job_still_runs_and_names_it(tmp_path):
    run, joined = gitlab_ci_local(tmp_path, fault="fail")
    assert run.returncode != 0
    assert re.search(r"PASS\s+py3\.6-six1\.16\.0", run.stdout) and re.search(r"FAIL\s+py3\.7-six1\.16\.0", run.stdout)
    assert re.search(r"FAIL\s+report", run.stdout), run.stdout[-3000:]  # it ran, and says the run is red
    assert "1 of 2 cells did not pass: py3.7-six1.16.0 (failed)" in run.stdout
    assert {c["id"]: c["status"] for c in joined["cells"]} == {"py3.6-six1.16.0": "passed", "py3.7-six1.16.0": "failed"}
