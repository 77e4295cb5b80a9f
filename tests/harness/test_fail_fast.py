"""--fail-fast on real runs of TF-free projects: after the first cell that fails no other starts (the later cells
are `not-run`, exit 1, nothing recommended, no checks between cells); --fail-fast=now also stops the cells still
running, whose earlier verdicts and evidence stay as they were. Without the option nothing changes."""
import json
import textwrap

import pytest
from faultkit import MATRIX, make_project, report, running, tfpin

# Four cells in this order (Python, then six): py3.6-six1.16.0, py3.6-six1.15.0, py3.7-six1.16.0, py3.7-six1.15.0.
# faultkit's suite asserts six 1.16.0, so the second cell fails on its own.
FOUR = MATRIX.replace('six = "1.16.0"', 'six = ["1.16.0", "1.15.0"]', 1)
ORDER = ["py3.6-six1.16.0", "py3.6-six1.15.0", "py3.7-six1.16.0", "py3.7-six1.15.0"]

# A suite whose behaviour each cell reads from [env]: SLOW_CELL sleeps (its child's pid written down), FAIL_CELL fails.
RACE = '''
import os
import subprocess
import sys
import time

CELL = os.environ["TFPIN_CELL"].split()[0]


def test_the_cell_does_what_it_is_told():
    if CELL == os.environ.get("FAIL_CELL"):
        time.sleep(2)  # the slow cell is running by now
        assert False, "injected failure"
    if CELL == os.environ.get("SLOW_CELL"):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open(os.environ["PIDFILE"], "a") as f:
            f.write("%d %d\\n" % (os.getpid(), child.pid))
        time.sleep(120)
        child.kill()
'''


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    return tmp_path_factory.mktemp("envs")


def test_fail_fast_starts_no_cell_after_the_first_failure(tmp_path, envs):
    project = make_project(tmp_path / "p", matrix=FOUR)
    out = tfpin(project, "matrix", "-j", "1", "--fail-fast", envs=envs)
    assert out.returncode == 1, out.stdout + out.stderr
    rep = report(project)
    statuses = {c["id"]: c["status"] for c in rep["cells"]}
    assert statuses == {ORDER[0]: "passed", ORDER[1]: "failed", ORDER[2]: "not-run", ORDER[3]: "not-run"}
    not_run = [c for c in rep["cells"] if c["status"] == "not-run"]
    assert all(c["reason"] == "%s: not run: --fail-fast stopped the run after %s failed" % (c["id"], ORDER[1])
               for c in not_run)
    assert all(c["tests"]["passed"] == 0 and not c.get("junit") for c in not_run)  # nothing ran there
    assert not (project / "reports" / "cells" / (ORDER[2] + ".json")).exists()  # nothing stored for them
    assert rep["recommendation"]["requirements"] is None and "--fail-fast" in rep["recommendation"]["summary"]
    assert rep["cross"] == {"skipped": "the run stopped at its first failure (--fail-fast)"}
    assert "--fail-fast: %s failed; no other cell starts" % ORDER[1] in out.stdout
    assert "%s (not-run)" % ORDER[2] in out.stderr  # the exit reason names them
    md = (project / "reports" / "matrix-faults.md").read_text()
    assert md.count("| not-run |") == 2


def test_without_fail_fast_every_cell_runs(tmp_path, envs):
    project = make_project(tmp_path / "p", matrix=FOUR)
    out = tfpin(project, "matrix", "-j", "1", envs=envs)
    assert out.returncode == 1
    statuses = [c["status"] for c in report(project)["cells"]]
    assert statuses == ["passed", "failed", "passed", "failed"]


def test_fail_fast_now_stops_the_running_cells_and_keeps_their_earlier_verdicts(tmp_path, envs):
    pids = tmp_path / "pids.txt"
    project = make_project(tmp_path / "p", extra_env={"PIDFILE": str(pids)})
    (project / "tests" / "test_fixture.py").write_text(textwrap.dedent(RACE))
    (project / "tests" / "conftest.py").write_text("")
    slow, failing = "py3.6-six1.16.0", "py3.7-six1.16.0"
    assert tfpin(project, "matrix", envs=envs).returncode == 0  # both pass: the verdicts to keep
    kept = json.loads((project / "reports" / "cells" / (slow + ".json")).read_text())
    kept_log = (project / "reports" / "logs" / (slow + ".log")).read_text()
    config = project / "tfpin.toml"
    config.write_text(config.read_text() + 'SLOW_CELL = "%s"\nFAIL_CELL = "%s"\n' % (slow, failing))
    out = tfpin(project, "matrix", "-j", "2", "--fail-fast=now", envs=envs)
    assert out.returncode == 1, out.stdout + out.stderr
    rep = report(project, "matrix-faults")
    by_id = {c["id"]: c for c in rep["cells"]}
    assert by_id[failing]["status"] == "failed"
    assert by_id[slow]["status"] == "not-run"
    assert by_id[slow]["reason"] == ("%s: stopped by --fail-fast=now after %s failed (its earlier verdict is kept)"
                                     % (slow, failing))
    assert json.loads((project / "reports" / "cells" / (slow + ".json")).read_text()) == kept
    assert (project / "reports" / "logs" / (slow + ".log")).read_text() == kept_log
    started = [int(pid) for pid in pids.read_text().split()]
    assert len(started) == 2 and not any(running(pid) for pid in started)  # the slow suite and its child are gone
    assert rep["recommendation"]["requirements"] is None
