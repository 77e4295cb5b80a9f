"""The public API for checks between cells and the deprecation census, used by a user's project in real runs.

The project is TF-free (six on Python 3.6 and 3.7, faultkit's matrix), so the runs are cheap; what its
tests write, read and warn about is real, through the in-cell plugins (cellplugin/tfpin_cross.py,
tfpin_census.py) and real pytest in real cell envs. The same API carries this repository's checkpoint,
h5, drift and census figures in real TF cells (tests/cell/test_between_cells.py, `nox -s matrix`).
"""
import json
import os
import signal
import time

import pytest
from faultkit import FAULT_CELL, GOOD_CELL, kill_started, make_project, report, start, tfpin
from test_faults_projects import write

ARTIFACT_TESTS = '''
import json
import os
import sys
import time
import warnings

import pytest

FAULT = os.environ.get("FAULT", "")


def old_api():
    warnings.warn("old_api is deprecated; use new_api", DeprecationWarning, stacklevel=2)


def test_writes_what_this_python_is(tfpin_artifact):
    minor = sys.version_info[1]
    loss = [1.0, 0.5, 0.25 + minor * 0.01]
    if FAULT == "nan" and minor == 7:  # training that diverged in one cell
        loss[1:] = [float("nan"), float("inf")]
    directory = tfpin_artifact("version", series={"loss": loss})
    if FAULT == "escape":  # a meta name that climbs out of the artifact directory, to the project's tests
        tfpin_artifact.meta("../../../tests", minor=minor)
    if FAULT == "series-list":
        tfpin_artifact.meta("version", series=loss)
    with open(os.path.join(directory, "v.json"), "w") as f:
        json.dump({"minor": minor}, f)


def test_calls_a_deprecated_api():
    old_api()  # the call site the census keeps: this line, in the project
    warnings.warn_explicit("a library's own deprecation", DeprecationWarning, "/usr/lib/python3/dist-packages/x.py", 7)


@pytest.mark.tfpin_reads("version")
def test_reads_what_another_python_wrote(tfpin_source):
    if FAULT == "crash-reader":
        os._exit(3)
    if FAULT == "slow-reader":  # still reading when the run is stopped
        time.sleep(float(os.environ.get("SLOW_READER_S", "120")))
    if FAULT == "write-reader":  # a reader that changes what it reads
        with open(os.path.join(tfpin_source.path, "v.json"), "w") as f:
            json.dump({"minor": 0}, f)
    with open(os.path.join(tfpin_source.path, "v.json")) as f:
        written = json.load(f)["minor"]
    tfpin_source.record(minor_gap=abs(written - sys.version_info[1]), seen=[float(written)])
    assert written <= sys.version_info[1], "written by a newer Python (3.%d)" % written


@pytest.mark.tfpin_reads("never-written")
def test_reads_an_artifact_nobody_wrote(tfpin_source):
    assert False, "never runs: no cell wrote it"
'''


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    return tmp_path_factory.mktemp("envs")


def project_with_artifacts(root, fault="", extra_env=None):
    project = make_project(root, fault=fault, fault_cell="py", extra_env=extra_env)
    write(project, {"tests/test_between.py": ARTIFACT_TESTS})
    return project


def test_readers_run_in_every_cell_on_every_cells_artifacts_and_each_pair_is_its_own_test(tmp_path, envs):
    project = project_with_artifacts(tmp_path / "p")
    out = tfpin(project, "matrix", envs=envs)
    assert out.returncode == 0, out.stdout + out.stderr  # a pair that fails is a finding, not a failed run
    rep = report(project)
    for cell in rep["cells"]:  # readers are not part of a cell's own verdict: deselected there
        assert cell["status"] == "passed" and cell["tests"]["passed"] == 5 and cell["artifacts"] == ["version"]
    cross = rep["cross"]
    assert cross["errors"] == [] and cross["cells"] == [GOOD_CELL, FAULT_CELL]
    pairs = {(p["reader"], p["from"], p["to"]): p for p in cross["pairs"]}
    reader = "tests/test_between.py::test_reads_what_another_python_wrote"
    assert {k[1:]: p["outcome"] for k, p in pairs.items() if k[0] == reader} == {
        (GOOD_CELL, GOOD_CELL): "passed", (GOOD_CELL, FAULT_CELL): "passed",
        (FAULT_CELL, GOOD_CELL): "failed", (FAULT_CELL, FAULT_CELL): "passed"}
    assert pairs[reader, FAULT_CELL, GOOD_CELL]["error"] == "AssertionError: written by a newer Python (3.7)"
    assert pairs[reader, GOOD_CELL, FAULT_CELL]["values"] == {"minor_gap": 1, "seen": [6.0]}
    nobody = "tests/test_between.py::test_reads_an_artifact_nobody_wrote"
    assert {p["outcome"] for k, p in pairs.items() if k[0] == nobody} == {"skipped"}
    # each pair is its own JUnit case in the reading cell, its id ending in the writer's cell
    (step,) = [p for p in (project / "reports" / "cross").iterdir() if p.is_dir()]  # one per set of passed cells
    junit = (step / (GOOD_CELL + ".xml")).read_text()
    assert 'test_reads_what_another_python_wrote[from:%s]' % FAULT_CELL in junit
    # the same writer read in both cells recorded the same value: no drift; the writers' series differ at step 3
    assert [(d["key"], d["max_abs_diff"]) for d in cross["drift"] if d["reader"] == reader] == [("seen", 0.0)]
    (series,) = cross["series_drift"]
    assert series["series"] == "version/loss" and series["first_step_over"] == 3
    assert abs(series["max_abs_diff"] - 0.01) < 1e-9
    md = (project / "reports" / "matrix-faults.md").read_text()
    assert "**`tests/test_between.py::test_reads_what_another_python_wrote`** (reads `version`): 3 of 4 pairs" in md
    assert "| c1 | 0.0e+00 | 1.0e+00 |" in md and "| c2 | ✗ | 0.0e+00 |" in md
    assert "written by a newer Python (3.7)" in md


def test_the_census_keeps_the_projects_own_call_sites(tmp_path, envs):
    project = project_with_artifacts(tmp_path / "p")
    assert tfpin(project, "matrix", "--cells", FAULT_CELL, envs=envs).returncode == 0
    rep = report(project, "matrix-faults-partial")
    (site,) = rep["census"]["sites"]  # the dist-packages one is not the project's
    assert site["site"].startswith("tests/test_between.py:") and site["api"] == "old_api is deprecated; use new_api"
    line = int(site["site"].rsplit(":", 1)[1])
    assert "old_api()" in ARTIFACT_TESTS.splitlines()[line - 1]  # the caller's line (stacklevel)
    assert rep["census"]["per_cell"] == {FAULT_CELL: 1} and site["kind"] == "DeprecationWarning"
    assert "## Deprecation census" in (project / "reports" / "matrix-faults-partial.md").read_text()


def test_the_census_sees_the_project_when_pytests_rootdir_is_below_it(tmp_path, envs):
    """A tests/pytest.ini makes tests/ pytest's rootdir; the census used it as the project and dropped every call
    site outside it, here the library's own."""
    project = make_project(tmp_path / "p")
    write(project, {"tests/pytest.ini": "[pytest]\n", "mylib/__init__.py": "",
                    "mylib/legacy.py": "import warnings\n\n\ndef old():\n"
                                       "    warnings.warn('old is deprecated', DeprecationWarning)\n",
                    "tests/test_legacy.py": "from mylib.legacy import old\n\n\ndef test_old():\n    old()\n"})
    assert tfpin(project, "matrix", "--cells", FAULT_CELL, envs=envs).returncode == 0
    sites = report(project, "matrix-faults-partial")["census"]["sites"]
    assert [(s["site"], s["api"]) for s in sites] == [("mylib/legacy.py:5", "old is deprecated")]


def test_a_series_that_turns_nan_in_one_cell_is_reported_as_diverged_there(tmp_path, envs):
    project = project_with_artifacts(tmp_path / "p", fault="nan")
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    text = (project / "reports" / "matrix-faults.json").read_text()

    def refuse(constant):
        raise AssertionError("matrix.json holds %s: not JSON" % constant)

    cross = json.loads(text, parse_constant=refuse)["cross"]
    assert cross["diverged"] == [{"series": "version/loss", "cell": FAULT_CELL, "step": 2, "value": "nan"}]
    (series,) = cross["series_drift"]
    assert series["first_step_over"] == 2 and series["diverged"] == {FAULT_CELL: 2} and series["max_abs_diff"] == 0.0
    assert cross["curves"]["version/loss"][FAULT_CELL] == [1.0, None, None]
    md = (project / "reports" / "matrix-faults.md").read_text()
    assert "| c1, c2 | 0.0e+00 | 2 (c2 diverged at step 2) |" in md and "- c2 diverged at step 2 (nan)" in md
    page = (project / "reports" / "matrix-faults.html").read_text()
    assert "2 (%s diverged at step 2)" % FAULT_CELL in page


@pytest.mark.parametrize("fault,error", [
    ("escape", "ValueError: an artifact name is one plain path component, got '../../../tests'"),
    ("series-list", "ValueError: series must be a dict of name -> list of numbers"),
])
def test_a_writer_that_names_a_path_or_passes_a_bad_series_fails_its_test_saying_why(tmp_path, envs, fault, error):
    project = project_with_artifacts(tmp_path / "p", fault=fault)
    out = tfpin(project, "matrix", envs=envs)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stdout + out.stderr
    for cell in report(project)["cells"]:
        assert cell["status"] == "failed" and error in cell["reason"], cell["reason"]
    assert not (project / "tests" / "tfpin-meta.json").exists()  # the project's tree is never written


def test_sigterm_during_the_cross_step_keeps_the_earlier_complete_report_whole(tmp_path, envs):
    """The report of a run whose cells finished was written over the earlier complete one before the cross step
    ran: a SIGTERM there left `interrupted: false`, a recommendation and no cross section in its place."""
    project = project_with_artifacts(tmp_path / "p")
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    complete = (project / "reports" / "matrix-faults.json").read_text()
    assert json.loads(complete)["cross"]["pairs"]
    project_with_artifacts(project, fault="slow-reader")  # a new [env]: the cells run again, then the readers hang
    proc = start(project, "matrix", envs=envs)
    try:
        for line in proc.stdout:
            if line.startswith("tfpin: 2 cells in"):  # the cells are done: the cross step starts now
                break
        time.sleep(2)
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        kill_started()
    assert proc.returncode == 143, err
    assert "interrupted by SIGTERM during the cross-cell checks" in err
    assert (project / "reports" / "matrix-faults.json").read_text() == complete
    incomplete = report(project, "matrix-faults-incomplete")
    assert incomplete["interrupted"] is True and incomplete["finished"] is None and "cross" not in incomplete
    assert [c["status"] for c in incomplete["cells"]] == ["passed", "passed"]


def test_a_reader_that_writes_what_it_reads_fails_named_and_the_writers_evidence_is_untouched(tmp_path, envs):
    project = project_with_artifacts(tmp_path / "p", fault="write-reader")
    out = tfpin(project, "matrix", envs=envs)
    pairs = [p for p in report(project)["cross"]["pairs"]
             if p["reader"] == "tests/test_between.py::test_reads_what_another_python_wrote"]
    assert len(pairs) == 4 and {p["outcome"] for p in pairs} == {"error"}, out.stdout + out.stderr
    for p in pairs:
        assert p["error"] == "AssertionError: this reader wrote into what %s wrote (a reader may only read it): " \
                             "version/v.json" % p["from"], p
    for cell, minor in ((GOOD_CELL, 6), (FAULT_CELL, 7)):  # each writer's own evidence, as it wrote it
        assert json.loads((project / "reports" / "artifacts" / cell / "version" / "v.json").read_text()) == {
            "minor": minor}


def test_a_subset_run_keeps_the_full_matrixs_verdicts_between_cells(tmp_path, envs):
    project = project_with_artifacts(tmp_path / "p")
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    full = report(project)["cross"]
    assert tfpin(project, "matrix", "--cells", GOOD_CELL, envs=envs).returncode == 0  # its own cross step
    assert report(project, "matrix-faults-partial")["cross"]["cells"] == [GOOD_CELL]
    assert tfpin(project, "report", envs=envs).returncode == 0  # the full report, rebuilt from what is stored
    assert report(project)["cross"]["pairs"] == full["pairs"]


def test_a_concurrent_run_of_a_cell_waits_for_the_readers_of_its_artifacts(tmp_path, envs):
    """A second run of a cell sets its artifacts aside while it runs: done while the first run's readers read
    them, they found nothing ("no test wrote any"). The readers hold the cells' locks; the second run waits."""
    project = project_with_artifacts(tmp_path / "p", fault="slow-reader", extra_env={"SLOW_READER_S": "6"})
    first = start(project, "matrix", envs=envs)
    try:
        for line in first.stdout:
            if line.startswith("tfpin: 2 cells in"):
                break
        time.sleep(1)
        second = tfpin(project, "cell", GOOD_CELL, "--no-cache", envs=envs)
        out, err = first.communicate(timeout=120)
    finally:
        kill_started()
    assert first.returncode == 0, out + err
    assert "waiting: another tfpin run" in second.stdout + second.stderr and second.returncode == 0
    reader = "tests/test_between.py::test_reads_what_another_python_wrote"
    assert {(p["from"], p["to"]): p["outcome"] for p in report(project)["cross"]["pairs"] if p["reader"] == reader} == {
        (GOOD_CELL, GOOD_CELL): "passed", (GOOD_CELL, FAULT_CELL): "passed",
        (FAULT_CELL, GOOD_CELL): "failed", (FAULT_CELL, FAULT_CELL): "passed"}  # every artifact was there to read


def comparable(cross):
    """What must agree between one `tfpin matrix` and the same cells run as separate jobs: every pair's outcome,
    error and values, the drift and the errors (not the wall-clock or CPU figures)."""
    return {k: cross.get(k) for k in ("cells", "writers", "errors", "readers", "pairs", "drift", "series_drift",
                                      "diverged", "skipped")}


@pytest.mark.parametrize("fault", ["", "crash-reader"])
def test_cells_and_readers_run_as_separate_jobs_give_the_matrix_runs_verdicts_and_exit_code(tmp_path, envs, fault):
    """The CI shape by hand: `tfpin cell` per cell, then `tfpin cross` per cell, then `tfpin report`; against one
    `tfpin matrix` of the same project, with a passing and with a crashing reader."""
    local = project_with_artifacts(tmp_path / "local", fault=fault)
    matrix_run = tfpin(local, "matrix", envs=envs)
    jobs = project_with_artifacts(tmp_path / "jobs", fault=fault)
    for cell in (GOOD_CELL, FAULT_CELL):
        assert tfpin(jobs, "cell", cell, envs=envs).returncode == 0
    crossed = [tfpin(jobs, "cross", cell, envs=envs) for cell in (GOOD_CELL, FAULT_CELL)]
    joined = tfpin(jobs, "report", envs=envs)
    assert joined.returncode == matrix_run.returncode == (1 if fault else 0), joined.stdout + joined.stderr
    assert [c.returncode for c in crossed] == [1 if fault else 0] * 2
    assert comparable(report(jobs)["cross"]) == comparable(report(local)["cross"])
    if fault:
        assert "cross-cell step failed: %s: the readers' pytest exited 3" % GOOD_CELL in joined.stderr


def test_a_report_joined_from_cells_that_ran_alone_says_the_readers_did_not_run(tmp_path, envs):
    """The CI shape (`tfpin cell <id>` per job, then `tfpin report`) runs no readers: the joined report says so
    instead of leaving the section out, which read like nothing to check."""
    project = project_with_artifacts(tmp_path / "p")
    for cell in (GOOD_CELL, FAULT_CELL):
        assert tfpin(project, "cell", cell, envs=envs).returncode == 0
    assert tfpin(project, "report", envs=envs).returncode == 0
    assert "the readers between cells did not run over these results" in report(project)["cross"]["skipped"]
    assert "Not checked: the readers between cells did not run" in (
        project / "reports" / "matrix-faults.md").read_text()


def test_a_reader_that_crashes_fails_the_run_naming_the_cell_and_keeps_the_verdicts(tmp_path, envs):
    project = project_with_artifacts(tmp_path / "p", fault="crash-reader")
    out = tfpin(project, "matrix", envs=envs)
    assert out.returncode == 1
    assert "tfpin: cross-cell step failed: %s: the readers' pytest exited 3" % GOOD_CELL in out.stderr
    rep = report(project)
    assert [c["status"] for c in rep["cells"]] == ["passed", "passed"]  # the cells' own verdicts stand
    assert rep["recommendation"]["requirements"] == {"six": "1.16.0"}


def test_verdicts_and_artifacts_are_reused_while_nothing_changed(tmp_path, envs):
    project = project_with_artifacts(tmp_path / "p")
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    first = report(project)["cross"]
    again = tfpin(project, "matrix", envs=envs)
    assert again.returncode == 0 and "cross: nothing changed since" in again.stdout
    assert report(project)["cross"]["pairs"] == first["pairs"]
    # a cell whose artifact is gone is not re-used: it runs again and writes it anew
    (project / "reports" / "artifacts" / GOOD_CELL / "version" / "v.json").unlink()
    (project / "reports" / "artifacts" / GOOD_CELL / "version" / "tfpin-meta.json").unlink()
    (project / "reports" / "artifacts" / GOOD_CELL / "version").rmdir()
    third = tfpin(project, "matrix", envs=envs)
    assert "its artifact 'version' is gone" in third.stdout
    assert json.loads((project / "reports" / "artifacts" / GOOD_CELL / "version" / "v.json").read_text()) == {
        "minor": 6}


def test_damaged_stored_verdicts_are_run_again_never_trusted(tmp_path, envs):
    project = project_with_artifacts(tmp_path / "p")
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    first = report(project)["cross"]
    (store,) = (project / "reports" / "cross").glob("*/verdicts.json")
    stored = json.loads(store.read_text())
    stored["verdicts"]["pairs"] = "all fine"  # the key still matches: only the shape says it is damaged
    store.write_text(json.dumps(stored))
    again = tfpin(project, "matrix", envs=envs)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stdout + again.stderr
    assert "cross: nothing changed since" not in again.stdout  # the readers ran again
    assert report(project)["cross"]["pairs"] == first["pairs"]
