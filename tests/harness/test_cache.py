"""The verdict cache (tfpin/cell/cache.py), through real harness runs of a TF-free project.

The first run of each test runs the suite; the second run changes one component of the key (or
nothing) and must re-run the cells exactly when something changed. A re-run is seen from the stored
result (a new `finished`, no `cached_from`), a re-use from `cached_from` pointing at the first run.
"""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest
from faultkit import FAULT_CELL, GOOD_CELL, ROOT, harness_env, make_project, report, running, start, tfpin


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    return tmp_path_factory.mktemp("envs")


def cells(project):
    return {c["id"]: c for c in report(project)["cells"]}


def first_run(project, envs, *args, env=None):
    out = tfpin(project, "matrix", *args, envs=envs, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    found = cells(project)
    assert not any(c.get("cached_from") for c in found.values()), "the first run re-used something"
    return found


def assert_reran(project, before, ids=(GOOD_CELL, FAULT_CELL)):
    after = cells(project)
    for cid in ids:
        assert not after[cid].get("cached_from"), "%s was re-used although an input changed" % cid
        assert after[cid]["started"] >= before[cid]["finished"] and after[cid]["tests"]["passed"] == 3


def assert_reused(project, before, ids=(GOOD_CELL, FAULT_CELL)):
    after = cells(project)
    for cid in ids:
        cached = after[cid].get("cached_from")
        assert cached, "%s ran again although nothing changed" % cid
        assert cached["finished"] == before[cid]["finished"]
        assert cached["tests_s"] == before[cid]["durations"]["tests_s"]
        assert cached["key"] == before[cid]["cache"]["key"]
        assert after[cid]["status"] == before[cid]["status"]


def test_unchanged_rerun_reuses_every_verdict_and_says_so(tmp_path, envs):
    project = make_project(tmp_path / "p")
    before = first_run(project, envs)
    out = tfpin(project, "matrix", envs=envs)
    assert out.returncode == 0, out.stdout + out.stderr
    assert_reused(project, before)
    assert "2 cells cached (verdicts re-used" in out.stdout
    assert "tests: 0 passed, 0 failed, 0 errors, 0 skipped; 2 cells cached" in out.stdout
    assert "(cached: verdict of %s" % before[GOOD_CELL]["finished"] in out.stdout
    md = (project / "reports" / "matrix-faults.md").read_text()
    assert "| `%s` | passed (cached) | 3 |" % GOOD_CELL in md
    assert report(project)["recommendation"]["requirements"] == {"six": "1.16.0"}
    for kind, suffix in (("junit", ".xml"), ("locks", ".txt"), ("logs", ".log")):  # the evidence it rests on
        assert (project / "reports" / kind / (GOOD_CELL + suffix)).is_file()


def test_no_cache_runs_everything(tmp_path, envs):
    project = make_project(tmp_path / "p")
    before = first_run(project, envs)
    assert tfpin(project, "matrix", "--no-cache", envs=envs).returncode == 0
    assert_reran(project, before)


def test_env_component_a_new_pin_reruns(tmp_path, envs):
    project = make_project(tmp_path / "p")
    before = first_run(project, envs)
    matrix = project / "faults.toml"
    matrix.write_text(matrix.read_text() + '\n[[constraints]]\npin = "pytest>=7"\nreason = "test"\n')
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    assert_reran(project, before)


def test_installed_component_a_package_added_by_hand_reruns(tmp_path, envs):
    project = make_project(tmp_path / "p")
    before = first_run(project, envs)
    from tfpin.cell.installer import uv_binary

    python = envs / GOOD_CELL / "bin" / "python"
    subprocess.run([uv_binary(), "pip", "install", "-q", "--python", str(python), "toml==0.10.2"], check=True)
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    assert_reran(project, before, [GOOD_CELL])
    assert_reused(project, before, [FAULT_CELL])
    subprocess.run([uv_binary(), "pip", "uninstall", "-q", "--python", str(python), "toml"], check=True)


def test_installed_component_a_damaged_env_reruns_and_is_rebuilt(tmp_path, envs):
    project = make_project(tmp_path / "p")
    before = first_run(project, envs)
    site = next((envs / GOOD_CELL / "lib").glob("python3.6/site-packages"))
    (site / "six.py").unlink()
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    assert_reran(project, before, [GOOD_CELL])
    assert "damaged" in cells(project)[GOOD_CELL]["env"]["rebuilt_because"]


def test_sources_component_git_tracked_files_by_default(tmp_path, envs):
    project = make_project(tmp_path / "p")
    (project / "helper.py").write_text("VALUE = 1\n")
    git = ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git + ["init", "-q"], check=True)
    (project / ".gitignore").write_text("reports/\nscratch.txt\n")
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "x"], check=True)
    before = first_run(project, envs)
    (project / "scratch.txt").write_text("ignored by git: not a source\n")
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    assert_reused(project, before)
    (project / "helper.py").write_text("VALUE = 2\n")  # tracked, edited, not committed: the tree counts
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    assert_reran(project, before)


def test_sources_component_configured_paths(tmp_path, envs):
    project = make_project(tmp_path / "p", config_extra='sources = ["src"]')
    (project / "src").mkdir()
    (project / "src" / "model.py").write_text("LAYERS = 20\n")
    (project / "notes.txt").write_text("not a source\n")
    before = first_run(project, envs)
    (project / "notes.txt").write_text("edited, still not a source\n")
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    assert_reused(project, before)
    (project / "src" / "model.py").write_text("LAYERS = 32\n")
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    assert_reran(project, before)
    again = cells(project)
    (project / "tests" / "test_fixture.py").write_text(  # the test paths always count, listed or not
        (project / "tests" / "test_fixture.py").read_text() + "\n# edited\n")
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    assert_reran(project, again)


def test_selection_component_pytest_args_and_timeout_rerun(tmp_path, envs):
    project = make_project(tmp_path / "p")
    before = first_run(project, envs)
    out = tfpin(project, "cell", GOOD_CELL, "--", "-k", "arithmetic", envs=envs)
    assert out.returncode == 0 and "(cached" not in out.stdout, out.stdout
    stored = json.loads((project / "reports" / "cells" / (GOOD_CELL + ".json")).read_text())
    assert stored["selection"] == ["-k", "arithmetic"] and stored["tests"]["passed"] == 1
    again = tfpin(project, "matrix", envs=envs)  # the full suite again: the filtered result is not its verdict
    assert again.returncode == 0
    assert_reran(project, before, [GOOD_CELL])
    assert_reused(project, before, [FAULT_CELL])
    config = project / "tfpin.toml"
    config.write_text(config.read_text().replace("timeout = 60", "timeout = 61"))
    mid = cells(project)
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    assert_reran(project, mid)


def test_environ_component_behaviour_variables_rerun_others_do_not(tmp_path, envs):
    project = make_project(tmp_path / "p")
    before = first_run(project, envs)
    assert tfpin(project, "matrix", envs=envs, env=harness_env(SOME_UNRELATED_VARIABLE="x")).returncode == 0
    assert_reused(project, before)
    assert tfpin(project, "matrix", envs=envs, env=harness_env(OMP_NUM_THREADS="1")).returncode == 0
    assert_reran(project, before)
    mid = cells(project)
    config = project / "tfpin.toml"  # the project's own [env] table
    config.write_text(config.read_text() + 'EXTRA_SETTING = "on"\n')
    assert tfpin(project, "matrix", envs=envs, env=harness_env(OMP_NUM_THREADS="1")).returncode == 0
    assert_reran(project, mid)


def test_harness_component_a_changed_cell_plugin_reruns(tmp_path, envs):
    """A copy of tfpin whose in-cell pytest plugin differs by one comment: its verdicts are not ours."""
    project = make_project(tmp_path / "p")
    before = first_run(project, envs)
    copy = tmp_path / "tfpin-copy"
    shutil.copytree(ROOT / "tfpin", copy / "tfpin", ignore=shutil.ignore_patterns("__pycache__", "matrices"))
    shutil.copytree(ROOT / "matrices", copy / "matrices")  # the built-in matrices sit beside the package
    plugin = copy / "tfpin" / "cellplugin" / "tfpin_progress.py"
    plugin.write_text(plugin.read_text() + "\n# changed\n")
    assert tfpin(project, "matrix", envs=envs, env=harness_env(PYTHONPATH=str(copy))).returncode == 0
    assert_reran(project, before)


def test_failed_verdicts_are_reused_errors_are_not(tmp_path, envs):
    project = make_project(tmp_path / "p", fault="fail")
    out = tfpin(project, "matrix", envs=envs)
    assert out.returncode == 1
    before = cells(project)
    assert before[FAULT_CELL]["status"] == "failed"
    out = tfpin(project, "matrix", envs=envs)
    assert out.returncode == 1 and "1 of 2 cells did not pass" in out.stderr
    assert_reused(project, before)
    crash = make_project(tmp_path / "q", fault="segfault")
    tfpin(crash, "matrix", envs=envs)
    first = cells(crash)
    assert first[FAULT_CELL]["status"] == "error"
    tfpin(crash, "matrix", envs=envs)  # a crash may be the machine's: never a verdict to keep
    second = cells(crash)
    assert not second[FAULT_CELL].get("cached_from") and second[FAULT_CELL]["started"] >= first[FAULT_CELL]["finished"]
    assert second[GOOD_CELL].get("cached_from")


def test_missing_evidence_file_reruns(tmp_path, envs):
    project = make_project(tmp_path / "p")
    before = first_run(project, envs)
    (project / "reports" / "junit" / (GOOD_CELL + ".xml")).unlink()
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    assert_reran(project, before, [GOOD_CELL])
    assert_reused(project, before, [FAULT_CELL])


def test_jobs_runs_cells_at_once_with_the_same_report(tmp_path, envs):
    project = make_project(tmp_path / "p", fault="fail")
    out = tfpin(project, "matrix", "-j", "2", "--no-cache", envs=envs)
    assert out.returncode == 1
    rep = report(project)
    assert [c["id"] for c in rep["cells"]] == [GOOD_CELL, FAULT_CELL]  # matrix order, whatever finished first
    assert {c["id"]: c["status"] for c in rep["cells"]} == {GOOD_CELL: "passed", FAULT_CELL: "failed"}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("[")]
    assert all(ln.startswith(("[1/2] " + GOOD_CELL, "[2/2] " + FAULT_CELL)) for ln in lines), lines
    bad = tfpin(project, "matrix", "-j", "0", envs=envs)
    assert bad.returncode == 2 and "--jobs must be 1 or more" in bad.stderr


def test_ctrl_c_with_jobs_interrupts_every_running_cell(tmp_path, envs):
    project = make_project(tmp_path / "p", fault="sleep", fault_cell="py")
    proc = start(project, "matrix", "-j", "2", envs=envs)
    deadline = time.monotonic() + 120
    while not (project / "pids.txt").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    pids = [int(p) for p in (project / "pids.txt").read_text().split()]
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    rep = report(project)
    assert {c["status"] for c in rep["cells"]} == {"interrupted"} and len(rep["cells"]) == 2
    assert rep["recommendation"]["requirements"] is None
    for pid in pids:
        assert not running(pid), "process %d survived the interrupted run" % pid


def test_reports_elsewhere_in_the_project_are_never_sources(tmp_path, envs):
    """--reports out (not git-ignored) must not make each run's own report a changed source."""
    project = make_project(tmp_path / "p")
    git = ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git + ["init", "-q"], check=True)
    out = tfpin(project, "matrix", "--reports", "out", envs=envs)
    assert out.returncode == 0, out.stdout + out.stderr
    again = tfpin(project, "matrix", "--reports", "out", envs=envs)
    assert "2 cells cached" in again.stdout, again.stdout
