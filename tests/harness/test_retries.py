"""--retries on real runs of a TF-free project: a test that fails once and then passes is `flaky` (listed with its
attempts, counted apart, said in the recommendation); a test that fails every attempt fails its cell as before; a
test flaky in one cell only is flaky there only; without --retries nothing changes."""
import json
import textwrap

import pytest
from faultkit import make_project, report, tfpin

# Each cell's first attempt of a flaky test fails (it leaves a mark in MARKS), every later one passes.
SUITE = '''
import os

CELL = os.environ["TFPIN_CELL"].split()[0]


def _first_time(name):
    mark = os.path.join(os.environ["MARKS"], "%s-%s" % (CELL, name))
    if os.path.exists(mark):
        return False
    open(mark, "w").close()
    return True


def test_steady():
    assert True


def test_flaky_everywhere():
    assert not _first_time("everywhere"), "lost a race on its first run"


def test_flaky_on_37_only():
    if CELL.startswith("py3.7"):
        assert not _first_time("on37"), "lost a race on 3.7"
'''
ALWAYS = '''

def test_always_fails():
    assert 1 == 2, "consistently wrong"
'''


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    return tmp_path_factory.mktemp("envs")


def project_with(tmp_path, suite):
    marks = tmp_path / "marks"
    marks.mkdir()
    project = make_project(tmp_path / "p", extra_env={"MARKS": str(marks)})
    (project / "tests" / "test_fixture.py").write_text(textwrap.dedent(suite))
    (project / "tests" / "conftest.py").write_text("")
    return project


def test_a_test_that_passes_when_run_again_is_flaky_and_counted_apart(tmp_path, envs):
    project = project_with(tmp_path, SUITE)
    out = tfpin(project, "matrix", "--retries", "2", envs=envs)
    assert out.returncode == 0, out.stdout + out.stderr
    rep = report(project)
    by_id = {c["id"]: c for c in rep["cells"]}
    assert [c["status"] for c in rep["cells"]] == ["passed", "passed"]
    for cell_id, flaky in (("py3.6-six1.16.0", ["tests/test_fixture.py::test_flaky_everywhere"]),
                           ("py3.7-six1.16.0", ["tests/test_fixture.py::test_flaky_everywhere",
                                                "tests/test_fixture.py::test_flaky_on_37_only"])):
        c = by_id[cell_id]
        assert c["tests"]["flaky"] == len(flaky) and c["tests"]["passed"] == 3 and c["tests"]["failed"] == 0
        assert [r["test"] for r in c["retries"]] == flaky and all(r["flaky"] for r in c["retries"])
        for r in c["retries"]:  # the first run failed with its own words, the one alone passed
            assert [a["outcome"] for a in r["attempts"]] == ["failed", "passed"]
            assert r["attempts"][0]["error"].startswith("AssertionError: lost a race")
    assert "passed with 3 flaky tests" in rep["recommendation"]["summary"]
    md = (project / "reports" / "matrix-faults.md").read_text()
    assert "## Tests run again (--retries)" in md and md.count("**flaky**") == 3
    assert "3 passed (2 flaky), 0 failed" in out.stdout
    # the stored result agrees with its own JUnit (the first run's), so `tfpin report` joins it
    joined = tfpin(project, "report", envs=envs)
    assert joined.returncode == 0, joined.stdout + joined.stderr
    # the verdict cache keeps the attempts: the same run again re-uses both verdicts, flaky tests and all
    again = tfpin(project, "matrix", "--retries", "2", envs=envs)
    assert again.returncode == 0 and "2 cells cached" in again.stdout, again.stdout
    assert [c["retries"] for c in report(project)["cells"]] == [c["retries"] for c in rep["cells"]]
    # ... but not for another number of retries, which could have judged the cells otherwise
    other = tfpin(project, "matrix", "--retries", "1", envs=envs)
    assert "cached" not in other.stdout and "changed since its last run: selection" in other.stdout


def test_a_test_that_fails_every_attempt_still_fails_its_cell(tmp_path, envs):
    project = project_with(tmp_path, SUITE + ALWAYS)
    out = tfpin(project, "matrix", "--retries", "3", envs=envs)
    assert out.returncode == 1
    for c in report(project)["cells"]:
        assert c["status"] == "failed" and c["failing"] == ["tests/test_fixture.py::test_always_fails"]
        always = [r for r in c["retries"] if r["test"].endswith("test_always_fails")][0]
        assert not always["flaky"] and [a["outcome"] for a in always["attempts"]] == ["failed"] * 4
        assert c["tests"]["failed"] == 1 and c["tests"]["flaky"] == (2 if c["id"].startswith("py3.7") else 1)
    assert report(project)["recommendation"]["requirements"] is None


def test_without_retries_a_flaky_test_fails_its_cell(tmp_path, envs):
    project = project_with(tmp_path, SUITE)
    out = tfpin(project, "matrix", envs=envs)
    assert out.returncode == 1
    cells = report(project)["cells"]
    assert [c["status"] for c in cells] == ["failed", "failed"]
    assert all("retries" not in c and c["tests"]["flaky"] == 0 for c in cells)
    stored = json.loads((project / "reports" / "cells" / "py3.6-six1.16.0.json").read_text())
    assert "retries" not in stored
