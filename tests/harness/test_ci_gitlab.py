"""`tfpin ci gitlab` on a user's project (examples/digits_tf1 inside this repository): the generated
.gitlab-ci.yml is valid against GitLab's own CI schema (check-jsonschema ships it, so this works offline),
has one job per cell with its evidence and JUnit, and a report job that needs them all and always runs."""
import json
import os
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
    """The generated pipeline, run by gitlab-ci-local's shell executor on this machine (fixture_repository)."""
    project, env = fixture_repository(tmp_path, fault=fault, project=project)
    run = subprocess.run(["gitlab-ci-local", "--force-shell-executor", "--variable",
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


SCHEDULED = '$CI_PIPELINE_SOURCE == "schedule"'


def test_a_schedule_adds_drift_jobs_valid_against_gitlabs_schema_and_says_how_to_create_it(tmp_path):
    """--schedule: one drift job per Python that only a scheduled pipeline runs, its report in the job log (after_script
    runs whatever drift's exit code) and in artifacts shown on the pipeline (`expose_as`); the other jobs stay out
    of scheduled pipelines; the command prints the API call and UI steps that create the schedule with the cron."""
    yaml = pytest.importorskip("yaml")
    out = tmp_path / "gitlab-ci.yml"
    run = subprocess.run([sys.executable, "-m", "tfpin", "ci", "gitlab", "--tfpin", REQUIREMENT, "--output", str(out),
                          "--schedule", "0 6 * * 1"], cwd=ROOT / "examples" / "digits_tf1", capture_output=True,
                         text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert '--form cron="0 6 * * 1" --form cron_timezone=UTC' in run.stdout
    assert "/api/v4/projects/<project>/pipeline_schedules" in run.stdout and "Pipeline schedules" in run.stdout
    checked = check_jsonschema(out)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    doc = yaml.safe_load(out.read_text())
    assert doc["stages"] == ["cells", "between", "report", "drift"]
    for python in ("3.6", "3.7"):
        job = doc["drift-py" + python.replace(".", "")]
        assert job["rules"] == [{"if": SCHEDULED}] and job["image"] == "python:%s-bullseye" % python
        cells = [c for c in doc if c.startswith("py%s-" % python) and not c.endswith("-between")]
        assert job["script"][-1].endswith("tfpin drift --matrix table --cells " + ",".join(cells))
        assert job["after_script"] == ["cat examples/digits_tf1/reports/drift.md 2>/dev/null || "
                                       "echo 'tfpin drift wrote no report'"]
        assert job["artifacts"]["when"] == "always" and job["artifacts"]["expose_as"] == "tfpin drift py" + python
        assert job["artifacts"]["paths"] == ["examples/digits_tf1/reports/drift.md",
                                             "examples/digits_tf1/reports/drift.json"]
    for name, job in doc.items():
        if isinstance(job, dict) and "stage" in job and job["stage"] != "drift":
            assert job["rules"][0] == {"if": SCHEDULED, "when": "never"} and "when" not in job, name
            assert job["rules"][1] == {"when": "on_success" if job["stage"] == "cells" else "always"}, name


@pytest.mark.parametrize("value", ["0 6 * *", "0 6 * * 1 2", "@daily", "0 24 * * 1", "60 * * * *", "0 6 0 * *",
                                   "0 6 * 13 *", "0 6 * * 7", "0 6 * * MON", "*/0 * * * *", "5-1 * * * *", "",
                                   "0 6 * * 1; touch PWNED", "${{ github.token }} * * * *"])
@pytest.mark.parametrize("system", ["github", "gitlab"])
def test_a_bad_schedule_exits_2_naming_the_option_and_what_is_allowed(tmp_path, system, value):
    out = tmp_path / "ci.yml"
    run = subprocess.run([sys.executable, "-m", "tfpin", "ci", system, "--tfpin", REQUIREMENT, "--output", str(out),
                          "--schedule", value], cwd=ROOT / "examples" / "digits_tf1", capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.startswith("tfpin: error: --schedule %r: " % value), run.stderr
    assert "5 cron fields" in run.stderr or re.search(r"the [a-z ]+ field '.*' must be `\*`, a number \d+-\d+",
                                                       run.stderr), run.stderr
    assert not out.exists()


@pytest.mark.parametrize("value", ["0 6 * * 1", "*/15 0-5,12 1 1-12/2 0,6", "  30  4 1,15 * *  "])
def test_a_good_schedule_is_written_as_five_fields(value):
    from tfpin.generate import ci_schedule

    assert ci_schedule.check_cron(value) == " ".join(value.split())


def fixture_repository(tmp_path, *args, fault="", project=None):
    """A TF-free project with two cells (py3.6, py3.7) in a git repository, as a user's: its pipeline generated with
    `args`, tfpin installed in the jobs from this checkout's commit, everything committed; (the project, the
    environment to run the jobs in: the machine's own settings (index, certificates) and uv stay; tfpin is NOT on
    PYTHONPATH: the jobs must run the tfpin their own script installs)."""
    from faultkit import make_project

    if shutil.which("gitlab-ci-local") is None or shutil.which("rsync") is None:
        pytest.skip("gitlab-ci-local (npm) and rsync are not installed; .ci/run installs them")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if commit.returncode != 0:
        pytest.skip("not a git checkout: %s" % commit.stderr.strip())
    project = project or make_project(tmp_path / "p", fault=fault, fault_cell="py3.7")
    git = ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    for git_args in (["init", "-q"], ["remote", "add", "origin", "https://gitlab.example.com/team/p.git"]):
        subprocess.run(git + git_args, cwd=project, check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = "%s:%s" % (Path(sys.executable).parent, env.get("PATH", "/usr/bin:/bin"))
    subprocess.run([sys.executable, "-m", "tfpin", "ci", "gitlab", "--tfpin",
                    "git+file://%s@%s" % (ROOT, commit.stdout.strip()), *args], cwd=project, check=True,
                   env=dict(env, PYTHONPATH=str(ROOT)), capture_output=True)
    subprocess.run(git + ["add", "-A"], cwd=project, check=True)
    subprocess.run(git + ["commit", "-q", "-m", "project"], cwd=project, check=True)
    return project, env


def test_gitlab_ci_local_selects_the_drift_jobs_only_in_a_scheduled_pipeline(tmp_path):
    """The rules as gitlab-ci-local evaluates them: CI_PIPELINE_SOURCE=schedule selects the two drift jobs and no
    other; a push pipeline selects every job but them."""
    project, env = fixture_repository(tmp_path, "--schedule", "0 6 * * 1")

    def selected(*variables):
        listed = subprocess.run(["gitlab-ci-local", "--list-json", "--ignore-predefined-vars", "CI_PIPELINE_SOURCE",
                                 *[a for v in variables for a in ("--variable", v)]], cwd=project, capture_output=True,
                                text=True, env=env, timeout=120)
        assert listed.returncode == 0, listed.stderr
        return sorted(job["name"] for job in json.loads(listed.stdout) if job["when"] != "never")

    cells = ["py3.6-six1.16.0", "py3.7-six1.16.0"]
    assert selected("CI_PIPELINE_SOURCE=schedule") == ["drift-py36", "drift-py37"]
    assert selected() == sorted(cells + [c + "-between" for c in cells] + ["report"])
    assert selected("CI_PIPELINE_SOURCE=merge_request_event") == selected()


def test_the_second_pipeline_restores_uvs_cache_and_needs_no_network(tmp_path):
    """The cache for real: the pipeline under gitlab-ci-local with --shell-isolation (each job in a copy of the
    tracked files, its `cache:` copied in and out; without it nothing is cached), twice. Each cell job's cache is
    keyed by the stamp its result carries; the first run fills it; the second imports it into every cell and
    readers' job, which then pass with uv offline (UV_OFFLINE=1: any download fails), so every package, the tfpin
    checkout and its build came from the cache; with the cache removed, the same offline job fails."""
    project, env = fixture_repository(tmp_path)
    base = ["gitlab-ci-local", "--force-shell-executor", "--shell-isolation", "--variable",
            "TFPIN_PYTHON=%s" % os.path.realpath(sys.executable)]
    first = subprocess.run(base, cwd=project, capture_output=True, text=True, timeout=900, env=env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    joined = json.loads((project / ".gitlab-ci-local" / "artifacts" / "report" / "reports" / "matrix-faults.json")
                        .read_text())
    stamps = {c["id"]: c["stamp"] for c in joined["cells"]}
    cache = project / ".gitlab-ci-local" / "cache"
    entries = sorted(p.name for p in cache.iterdir())
    assert [e.rsplit("-", 1)[0] for e in entries] == ["0_tfpin-uv-%s-%s" % kv for kv in sorted(stamps.items())]
    for entry in entries:  # uv really used the directory the job caches
        assert list((cache / entry / ".tfpin" / "uv-cache").glob("wheels-*")), entry
    jobs = [job for cell in stamps for job in (cell, cell + "-between")]  # the report job keeps no cache
    offline = base + ["--variable", "UV_OFFLINE=1"]
    second = subprocess.run(offline + jobs, cwd=project, capture_output=True, text=True, timeout=900, env=env)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-2000:]
    for cell, stamp in stamps.items():
        for job in (cell, cell + "-between"):
            assert re.search(r"%s\s+imported cache '0_tfpin-uv-%s-%s-" % (re.escape(job), re.escape(cell), stamp),
                             second.stdout), second.stdout[-3000:]
    shutil.rmtree(cache)
    control = subprocess.run(offline + jobs[:1], cwd=project, capture_output=True, text=True, timeout=900, env=env)
    assert control.returncode != 0 and re.search(r"FAIL\s+%s" % re.escape(jobs[0]), control.stdout), \
        control.stdout[-3000:]


def test_a_scheduled_pipeline_runs_tfpin_drift_against_the_locks_of_the_push_pipeline(tmp_path):
    """The drift job for real: a push pipeline (gitlab-ci-local's shell executor without isolation, so the cell jobs'
    locks stay in the project, as committed locks would) and then a scheduled one, which runs the drift job alone:
    `tfpin drift` from the tfpin the job installs finds the cell unchanged (exit 0), after_script prints the drift
    report into the job log, and drift.md/.json are the job's artifacts."""
    project, env = fixture_repository(tmp_path, "--schedule", "0 6 * * 1")
    base = ["gitlab-ci-local", "--force-shell-executor", "--variable",
            "TFPIN_PYTHON=%s" % os.path.realpath(sys.executable)]
    push = subprocess.run(base, cwd=project, capture_output=True, text=True, timeout=900, env=env)
    assert push.returncode == 0 and "drift-py36" not in push.stdout, push.stdout[-3000:]
    assert (project / "reports" / "locks" / "py3.6-six1.16.0.txt").is_file()
    scheduled = subprocess.run(base + ["--variable", "CI_PIPELINE_SOURCE=schedule", "--ignore-predefined-vars",
                                       "CI_PIPELINE_SOURCE", "drift-py36"], cwd=project, capture_output=True,
                               text=True, timeout=900, env=env)
    assert scheduled.returncode == 0 and re.search(r"PASS\s+drift-py36", scheduled.stdout), scheduled.stdout[-3000:]
    assert "tfpin drift --matrix faults.toml --cells py3.6-six1.16.0" in scheduled.stdout
    assert "unchanged: today's index resolves the cell to its lock" in scheduled.stdout
    after = scheduled.stdout.split("Running after script...")[1]
    assert "# Drift of matrix `faults` against today's index" in after and "`py3.6-six1.16.0`" in after
    kept = project / ".gitlab-ci-local" / "artifacts" / "drift-py36" / "reports"
    assert json.loads((kept / "drift.json").read_text())["exit_code"] == 0 and (kept / "drift.md").is_file()
