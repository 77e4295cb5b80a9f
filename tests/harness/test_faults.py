"""The fault suite: real faults injected into real harness runs (real interpreters, uv/pip, pytest).

Each test asserts the status, the exit code, the message (it names the cell or the file and says
what is allowed or what to do) and that results finished before the fault are still reported.
Cells need no TensorFlow (a cell is a Python plus requirements; here `six`), so all of this runs
in a couple of minutes on the host.
"""
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from faultkit import (
    FAULT_CELL,
    GOOD_CELL,
    MATRIX,
    harness_env,
    kill_started,
    make_project,
    report,
    running,
    start,
    statuses,
    tfpin,
)


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    """Cell environments shared by the module: built once, reused (and probed) by every run."""
    return tmp_path_factory.mktemp("envs")


def assert_kept_good_cell(project, name="matrix-faults"):
    cells = {c["id"]: c for c in report(project, name)["cells"]}
    assert cells[GOOD_CELL]["status"] == "passed" and cells[GOOD_CELL]["tests"]["passed"] == 3
    stored = json.loads((project / "reports" / "cells" / (GOOD_CELL + ".json")).read_text())
    assert stored["status"] == "passed"


# -- bad input: refused before anything runs, earlier results untouched ------------------------------------

BAD_MATRICES = [
    ("toml syntax", MATRIX + "\n[[cells]\n", ["faults.toml", "not valid TOML"]),
    ("unknown key", MATRIX + "\ncolour = 'red'\n", ["faults.toml", "unknown key 'colour'", "allowed keys"]),
    ("bad version", MATRIX.replace('six = "1.16.0"', 'six = "1.16.x"'),
     ["faults.toml", "key 'six' = '1.16.x'", "exact release like"]),
    ("duplicate cell", MATRIX + '\n[[cells]]\npython = "3.7"\nsix = "1.16.0"\n',
     ["faults.toml", "duplicate cell py3.7-six1.16.0", "[[cells]] #1", "[[cells]] #2"]),
]


@pytest.mark.parametrize("text,fragments", [b[1:] for b in BAD_MATRICES], ids=[b[0] for b in BAD_MATRICES])
def test_bad_matrix_is_refused_and_keeps_earlier_report(tmp_path, envs, text, fragments):
    project = make_project(tmp_path / "p")
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    before = (project / "reports" / "matrix-faults.json").read_text()
    (project / "faults.toml").write_text(text)
    out = tfpin(project, "matrix", envs=envs)
    assert out.returncode == 2, out.stderr
    for fragment in fragments:
        assert fragment in out.stderr
    assert "started" not in out.stdout
    assert (project / "reports" / "matrix-faults.json").read_text() == before


def test_unknown_cell_id_lists_the_cells(tmp_path, envs):
    project = make_project(tmp_path / "p")
    out = tfpin(project, "matrix", "--cells", "py3.7-six9.9.9", envs=envs)
    assert out.returncode == 2
    assert "unknown cell id(s) py3.7-six9.9.9" in out.stderr and "py3.6-six1.16.0, py3.7-six1.16.0" in out.stderr
    assert not (project / "reports" / "cells").exists()


def test_unwritable_report_dir_is_refused_before_any_cell(tmp_path, envs):
    project = make_project(tmp_path / "p")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    out = tfpin(project, "matrix", "--reports", str(blocker / "reports"), envs=envs)
    assert out.returncode == 2
    assert "report directory %s is not writable" % (blocker / "reports") in out.stderr
    assert "--reports DIR" in out.stderr and "started" not in out.stdout


@pytest.mark.parametrize("name,value", [("TFPIN_SAMPLE_S", "fast"), ("TFPIN_SAMPLE_S", "0"),
                                        ("TFPIN_HEARTBEAT_S", "-1"), ("TFPIN_HEARTBEAT_S", "nan")])
def test_a_malformed_tfpin_variable_is_refused_before_any_cell(tmp_path, envs, name, value):
    """They were read with float() at import or mid-run: a traceback, or a NaN sampling period."""
    project = make_project(tmp_path / "p")
    out = tfpin(project, "matrix", envs=envs, env=harness_env(**{name: value}))
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith("tfpin: error: %s=%r: " % (name, value))
    assert "must be a number of seconds" in out.stderr
    assert "started" not in out.stdout


def _immutable(paths, on: bool) -> bool:
    """chattr +i / -i: a directory even root cannot write into (file modes do not stop root)."""
    flag = "+i" if on else "-i"
    return all(subprocess.run(["chattr", flag, str(p)], capture_output=True).returncode == 0 for p in paths)


def test_a_reports_directory_that_turns_read_only_mid_run_is_said_and_loses_nothing(tmp_path, envs):
    """The audit: a reports directory that turned read-only (or full) mid-run gave a traceback. Now tfpin says
    which file it could not write, stops, and every file written before is as it was."""
    project = make_project(tmp_path / "p", fault="slow", fault_cell="py3.7")  # the 3.7 cell's suite takes 3 s
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    reports = project / "reports"
    complete = (reports / "matrix-faults.json").read_text()
    probe = tmp_path / "probe"
    probe.mkdir()
    if shutil.which("chattr") is None or not _immutable([probe], True):
        pytest.skip("chattr +i is not available on this file system: no way to make a directory read-only for root")
    _immutable([probe], False)
    (project / "pids.txt").unlink(missing_ok=True)
    proc = start(project, "matrix", "--no-cache", "-j", "1", envs=envs)  # 3.6 first, then the slow 3.7 cell
    locked = [reports, reports / "cells"]
    try:
        deadline = time.monotonic() + 120
        while not (project / "pids.txt").exists() and time.monotonic() < deadline:  # the 3.7 suite is running
            time.sleep(0.1)
        assert _immutable(locked, True)
        out, err = proc.communicate(timeout=120)
    finally:
        _immutable(locked, False)
        kill_started()
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert "tfpin: error: cannot write %s" % (reports / "cells" / (FAULT_CELL + ".json")) in err, err
    assert "every file written before is intact" in err
    assert (reports / "matrix-faults.json").read_text() == complete
    assert json.loads((reports / "cells" / (GOOD_CELL + ".json")).read_text())["status"] == "passed"
    assert not [p.name for p in reports.glob(".*.tmp*")] and not [p.name for p in (reports / "cells").glob(".*tmp*")]


# -- interpreters and installers ---------------------------------------------------------------------------

def no_python_env(tmp_path, keep=()):
    """A machine with no Python 3.6/3.7 anywhere, or only the versions in `keep` (a pyenv tree of links)."""
    pyenv = tmp_path / "pyenv"
    (pyenv / "versions").mkdir(parents=True)
    for python in keep:  # link the real installation found on this machine, wherever it lives
        from tfpin.cell.interpreters import find

        prefix = subprocess.run([find(python)[0], "-c", "import sys; print(sys.base_prefix)"], capture_output=True,
                                text=True, check=True).stdout.strip()
        (pyenv / "versions" / Path(prefix).name).symlink_to(prefix)
    home = tmp_path / "home"
    home.mkdir()
    return harness_env(PATH="/usr/bin:/bin", HOME=str(home), PYENV_ROOT=str(pyenv))


def test_no_interpreter_fails_the_run_and_says_how_to_get_one(tmp_path, envs):
    project = make_project(tmp_path / "p")
    out = tfpin(project, "matrix", env=no_python_env(tmp_path), envs=envs)
    assert out.returncode == 1
    assert statuses(project) == {GOOD_CELL: "missing-interpreter", FAULT_CELL: "missing-interpreter"}
    assert "no Python 3.6 interpreter found" in report(project)["cells"][0]["reason"]
    assert "pyenv install 3.6" in out.stderr and "--skip-missing-interpreters" in out.stderr
    # accepting missing interpreters cannot make a run green when nothing executed
    out = tfpin(project, "matrix", "--skip-missing-interpreters", env=no_python_env(tmp_path / "2"), envs=envs)
    assert out.returncode == 1 and "zero tests executed across 2 cells" in out.stderr
    assert report(project)["recommendation"]["requirements"] is None


def test_one_missing_python_fails_unless_skipped_and_is_never_recommended(tmp_path, envs):
    project = make_project(tmp_path / "p")
    env = no_python_env(tmp_path, keep=["3.7"])
    out = tfpin(project, "matrix", env=env, envs=envs)
    assert out.returncode == 1
    assert statuses(project) == {GOOD_CELL: "missing-interpreter", FAULT_CELL: "passed"}
    assert "py3.6-six1.16.0 (missing-interpreter)" in out.stderr
    out = tfpin(project, "matrix", "--skip-missing-interpreters", env=env, envs=envs)
    assert out.returncode == 0, out.stderr
    rec = report(project)["recommendation"]
    assert rec["requirements"] is None and "py3.6-six1.16.0 missing-interpreter" in rec["rejected_newer"][0]["why"]


TF112 = MATRIX.replace('six = "1.16.0"', 'six = "1.16.0"\n\n[[cells]]\npython = "3.7"\ntensorflow = "1.12.3"')


@pytest.mark.parametrize("installer", ["uv", "venv"])
def test_no_build_for_this_python_is_unavailable(tmp_path, envs, installer):
    project = make_project(tmp_path / "p", matrix=TF112)
    env = harness_env(TFPIN_INSTALLER=installer)
    out = tfpin(project, "matrix", "--cells", "py3.7-tf1.12", env=env, envs=tmp_path / "envs")
    result = report(project, "matrix-faults-partial")["cells"][0]
    assert result["status"] == "unavailable"
    assert result["reason"].startswith("py3.7-tf1.12: installer: ")
    if installer == "uv":
        assert "has no wheels with a matching Python ABI tag" in result["reason"]
    else:
        assert "builds of tensorflow==1.12.3 exist, none for this Python" in result["reason"]
    assert out.returncode == 3 and "every cell is unavailable" in out.stderr  # proves nothing, fails nothing


@pytest.mark.parametrize("installer,pin,fragment", [
    ("uv", "1.16.99", "no version of six==1.16.99"),
    ("venv", "1.16.99", "from versions: 0.9.0"),
])
def test_typo_in_a_pin_is_an_error_quoting_the_installer(tmp_path, installer, pin, fragment):
    project = make_project(tmp_path / "p", matrix=MATRIX.replace('six = "1.16.0"', 'six = "%s"' % pin))
    out = tfpin(project, "matrix", "--cells", "py3.7-six" + pin, env=harness_env(TFPIN_INSTALLER=installer),
                envs=tmp_path / "envs")
    result = report(project, "matrix-faults-partial")["cells"][0]
    assert result["status"] == "error", result["reason"]
    assert result["reason"].startswith("py3.7-six%s: environment: install failed" % pin)
    assert fragment in result["reason"]
    assert out.returncode == 1


def test_unreachable_index_is_an_error_not_unavailable(tmp_path):
    project = make_project(tmp_path / "p")
    env = harness_env(UV_DEFAULT_INDEX="http://127.0.0.1:9/simple", UV_INDEX_URL=None, UV_EXTRA_INDEX_URL=None)
    out = tfpin(project, "matrix", env=env, envs=tmp_path / "envs")
    assert out.returncode == 1
    cells = {c["id"]: c for c in report(project)["cells"]}
    assert {c["status"] for c in cells.values()} == {"error"}
    assert "127.0.0.1:9" in cells[GOOD_CELL]["reason"] and cells[GOOD_CELL]["reason"].startswith(GOOD_CELL)


# -- the suite misbehaves ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault,status,fragments", [
    ("fail", "failed", ["1 failed, 0 errors: tests/test_fixture.py::test_fault", "AssertionError: injected failure"]),
    ("nothing", "failed", ["zero tests executed (0 skipped)"]),
    ("timeout-text", "failed", ["1 failed, 0 errors: tests/test_fixture.py::test_fault",
                                "AssertionError: Timeout >5s waiting for the queue"]),  # words, not a hang
    ("segfault", "error", ["pytest died from SIGSEGV while running tests/test_fixture.py::test_fault"]),
    ("hang", "error", ["hung past the per-test timeout: tests/test_fixture.py::test_fault"]),
    ("hang-unstoppable", "error", ["still running after the 12 s deadline",
                                   "the test running: tests/test_fixture.py::test_fault"]),
    ("corrupt-junit", "error", ["JUnit report reports/junit/py3.7-six1.16.0.xml is unreadable",
                                "not well-formed XML"]),
])
def test_suite_fault_is_reported_on_its_cell_and_others_are_kept(tmp_path, envs, fault, status, fragments):
    project = make_project(tmp_path / "p", fault=fault, timeout=3)
    out = tfpin(project, "matrix", envs=envs)
    assert out.returncode == 1
    cells = {c["id"]: c for c in report(project)["cells"]}
    assert cells[FAULT_CELL]["status"] == status
    reason = cells[FAULT_CELL]["reason"]
    assert reason.startswith(FAULT_CELL + ": ")
    for fragment in fragments:
        assert fragment in reason
    assert_kept_good_cell(project)
    assert report(project)["recommendation"]["requirements"] is None
    if fault in ("segfault", "hang-unstoppable", "corrupt-junit"):  # no JUnit that could pass for evidence
        assert not (project / "reports" / "junit" / (FAULT_CELL + ".xml")).exists()


def wait_for_sleeping_test(project, seconds, where="") -> Path:
    """The fixture test's pid file, once the sleeping test has started (and settled for half a second)."""
    pidfile = project / "pids.txt"
    deadline = time.monotonic() + seconds
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pidfile.exists(), "the sleeping test never started" + where
    time.sleep(0.5)
    return pidfile


def test_ctrl_c_mid_matrix_keeps_finished_cells_and_leaves_no_orphans(tmp_path, envs):
    project = make_project(tmp_path / "p", fault="sleep")
    proc = start(project, "matrix", "-j", "1", envs=envs)  # the 3.6 cell first, then the 3.7 one
    pidfile = wait_for_sleeping_test(project, 120)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to its foreground job
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert statuses(project) == {GOOD_CELL: "passed", FAULT_CELL: "interrupted"}
    rep = report(project)
    assert rep["interrupted"] is True and rep["finished"] is None
    assert rep["recommendation"]["requirements"] is None and "interrupted" in rep["recommendation"]["summary"]
    assert "py3.7-six1.16.0: interrupted by SIGINT while running its tests" in stdout
    for pid in map(int, pidfile.read_text().split()):  # the pytest process and the child it started
        assert not running(pid), "process %d survived the interrupted run" % pid


def test_sigterm_ends_the_run_like_ctrl_c(tmp_path, envs):
    project = make_project(tmp_path / "p", fault="sleep")
    proc = start(project, "matrix", "-j", "1", envs=envs)  # the 3.6 cell first, then the 3.7 one
    deadline = time.monotonic() + 120
    while not (project / "pids.txt").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert statuses(project) == {GOOD_CELL: "passed", FAULT_CELL: "interrupted"}


def test_ctrl_c_stops_parallel_pin_discovery_and_every_child(tmp_path, envs):
    """-j 2: the stop lands in the main thread, the searches' children run under worker threads."""
    project = make_project(tmp_path / "p", fault="sleep")
    proc = start(project, "pins", "discover", "-j", "2", envs=envs)
    pidfile = wait_for_sleeping_test(project, 180, " in the baseline trial")
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "pin discovery interrupted" in stderr
    assert not (project / "reports" / "pins" / (FAULT_CELL + ".json")).exists()  # no result for a search cut short
    for pid in map(int, pidfile.read_text().split()):
        assert not running(pid), "process %d survived the interrupted discovery" % pid


# -- the machine misbehaves ----------------------------------------------------------------------------------

def test_damaged_env_is_detected_and_rebuilt(tmp_path, envs):
    project = make_project(tmp_path / "p")
    assert tfpin(project, "cell", FAULT_CELL, envs=envs).returncode == 0
    site = next((envs / FAULT_CELL / "lib").glob("python3.7/site-packages"))
    (site / "six.py").unlink()
    out = tfpin(project, "cell", FAULT_CELL, envs=envs)
    assert out.returncode == 0, out.stdout
    result = json.loads((project / "reports" / "cells" / (FAULT_CELL + ".json")).read_text())
    assert result["status"] == "passed" and result["env"]["reused"] is False
    assert "damaged: six: six.py is missing" in result["env"]["rebuilt_because"]
    assert "env rebuilt: damaged" in out.stdout


def test_concurrent_runs_on_one_env_wait_for_each_other(tmp_path, envs):
    project = make_project(tmp_path / "p", fault="slow")
    first = start(project, "cell", FAULT_CELL, envs=envs)
    deadline = time.monotonic() + 120
    while not (project / "pids.txt").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    second = start(project, "cell", FAULT_CELL, envs=envs)
    out1, err1 = first.communicate(timeout=120)
    out2, err2 = second.communicate(timeout=120)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    assert "waiting: another tfpin run (pid %d) is using" % first.pid in out2
    result = json.loads((project / "reports" / "cells" / (FAULT_CELL + ".json")).read_text())
    assert result["status"] == "passed" and result["tests"]["passed"] == 3


def test_host_pytest_and_python_variables_do_not_leak_into_cells(tmp_path, envs):
    project = make_project(tmp_path / "p")
    env = harness_env(PYTEST_ADDOPTS="-k no_such_test", PYTHONPATH=os.pathsep.join(
        [harness_env()["PYTHONPATH"], str(tmp_path / "nowhere")]), PYTEST_PLUGINS="no_such_plugin")
    out = tfpin(project, "matrix", env=env, envs=envs)
    assert out.returncode == 0, out.stdout + out.stderr
    assert {c["tests"]["passed"] for c in report(project)["cells"]} == {3}


# -- evidence ------------------------------------------------------------------------------------------------

def test_filtered_run_is_recorded_and_never_joins_a_report(tmp_path, envs):
    project = make_project(tmp_path / "p")
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    full = (project / "reports" / "matrix-faults.json").read_text()
    out = tfpin(project, "cell", FAULT_CELL, "--", "-k", "arithmetic", envs=envs)
    assert out.returncode == 0
    result = json.loads((project / "reports" / "cells" / (FAULT_CELL + ".json")).read_text())
    assert result["selection"] == ["-k", "arithmetic"] and result["tests"]["passed"] == 1
    out = tfpin(project, "matrix", "--", "-k", "arithmetic", envs=envs)
    assert out.returncode == 0
    partial = report(project, "matrix-faults-partial")
    assert partial["selection"] == ["-k", "arithmetic"] and partial["recommendation"]["requirements"] is None
    assert (project / "reports" / "matrix-faults.json").read_text() == full  # the full report is untouched
    out = tfpin(project, "report", envs=envs)
    assert out.returncode == 1
    assert "cells/py3.7-six1.16.0.json: a filtered run (pytest args -k arithmetic), not the full suite" in out.stderr


def test_report_refuses_results_for_another_definition(tmp_path, envs):
    project = make_project(tmp_path / "p")
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    assert tfpin(project, "report", envs=envs).returncode == 0
    (project / "faults.toml").write_text(MATRIX.replace('"pytest-timeout==2.4.0"', '"pytest-timeout==2.3.1"'))
    out = tfpin(project, "report", envs=envs)
    assert out.returncode == 1
    assert "py3.7-six1.16.0.json: produced for another definition of py3.7-six1.16.0" in out.stderr
    assert "pytest-timeout==2.4.0" in out.stderr and "pytest-timeout==2.3.1" in out.stderr
    assert "py3.6-six1.16.0.json" not in out.stderr  # the 3.6 cell's definition did not change


@pytest.mark.parametrize("field,value", [
    ("status", 5), ("tests", {"passed": "3", "failed": 0, "skipped": 0, "errors": 0}), ("failing", "x"),
    ("durations", {"tests_s": "fast"}), ("selection", True), ("env", []),
])
def test_a_stored_result_with_a_field_of_the_wrong_type_is_refused_naming_it_never_a_traceback(
        tmp_path, envs, field, value):
    """The audit's six fields: `tfpin report` and the verdict cache of `tfpin matrix` crashed on each."""
    project = make_project(tmp_path / "p")
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    path = project / "reports" / "cells" / (FAULT_CELL + ".json")
    data = json.loads(path.read_text())
    data[field] = value
    path.write_text(json.dumps(data))
    out = tfpin(project, "report", envs=envs)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "%s: unreadable (%s: field %s" % (path, path, field) in out.stderr, out.stderr
    out = tfpin(project, "matrix", envs=envs)  # the cache cannot re-use it: the cell runs again, and passes
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stdout + out.stderr
    assert statuses(project) == {GOOD_CELL: "passed", FAULT_CELL: "passed"}
    assert json.loads(path.read_text())[field] != value


def test_report_refuses_a_result_edited_from_failed_to_passed_against_its_junit(tmp_path, envs):
    project = make_project(tmp_path / "p", fault="fail", fault_cell="py3.7")
    assert tfpin(project, "matrix", envs=envs).returncode == 1
    path = project / "reports" / "cells" / (FAULT_CELL + ".json")
    data = json.loads(path.read_text())
    assert data["status"] == "failed" and data["tests"]["failed"] == 1
    ran = data["tests"]["passed"]
    data.update(status="passed", reason="", failing=[])
    data["tests"].update(passed=ran + 1, failed=0)
    path.write_text(json.dumps(data))
    out = tfpin(project, "report", envs=envs)
    assert out.returncode == 1
    assert "says passed with %d passed, but its JUnit reports/junit/%s.xml says %d passed, 1 failed" % (
        ran + 1, FAULT_CELL, ran) in out.stderr, out.stderr
    assert report(project)["recommendation"]["python"] != ["3.6", "3.7"]


def test_subset_run_recommends_only_the_pythons_that_ran(tmp_path, envs):
    project = make_project(tmp_path / "p")
    out = tfpin(project, "matrix", "--cells", FAULT_CELL, envs=envs)
    assert out.returncode == 0
    rec = report(project, "matrix-faults-partial")["recommendation"]
    assert rec["python"] == ["3.7"] and rec["partial"] is True
    assert "partial evidence (1 of 2 cells" in rec["summary"]
    assert not (project / "reports" / "matrix-faults.json").exists()


def test_a_failed_cells_old_junit_and_lock_do_not_survive(tmp_path, envs):
    project = make_project(tmp_path / "p")
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    assert (project / "reports" / "junit" / (FAULT_CELL + ".xml")).exists()
    out = tfpin(project, "matrix", env=no_python_env(tmp_path, keep=["3.6"]), envs=envs)
    assert out.returncode == 1
    assert statuses(project)[FAULT_CELL] == "missing-interpreter"
    for kind, suffix in (("junit", ".xml"), ("locks", ".txt")):
        assert not (project / "reports" / kind / (FAULT_CELL + suffix)).exists()
    assert (project / "reports" / "junit" / (GOOD_CELL + ".xml")).exists()
