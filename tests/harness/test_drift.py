"""`tfpin drift` on a real TF-free project whose dependency gains releases after its matrix ran.

The project installs `tfpin-fixture-dep>=1.0` from a find-links directory the test owns (UV_FIND_LINKS): that
directory is "today's index". `tfpin matrix` runs with only 1.0 offered (both cells pass, their locks say 1.0).
Then 1.1 (fine) and 1.2 are published; 1.2 uses `from __future__ import annotations` without declaring
Requires-Python >= 3.7, as real releases have, so it breaks the Python 3.6 cell only. Drift must name that cell
with 1.2 and the SyntaxError, find by pin discovery's bisection that 1.1 still passes (the pin that holds it:
`tfpin-fixture-dep<1.2`), say the 3.7 cell can move on to 1.2, exit 1, and leave every cell's env, lock and
verdict as they were. With nothing new offered, every cell is unchanged and the exit code is 0. Real uv, real
wheels, real pytest in real 3.6/3.7 environments.
"""
import json
import textwrap

import pytest
from faultkit import harness_env, make_project, tfpin, wheel

DEP = "tfpin-fixture-dep"
SUITE = '''
import os

import tfpin_fixture_dep


def test_the_answer():
    assert tfpin_fixture_dep.answer() == 42


def test_keeps_an_artifact(tfpin_artifact):
    """An artifact (as this repository's suite writes its checkpoints): a trial must find its name free, and must
    not write into the cell's own evidence."""
    with open(os.path.join(tfpin_artifact("answer"), "value.txt"), "w") as out:
        out.write(str(tfpin_fixture_dep.answer()))
'''
PLAIN = "def answer():\n    return 42\n"
# Valid on 3.7+, a SyntaxError on 3.6; the wheel does not say Requires-Python >= 3.7, so 3.6 resolves to it.
ANNOTATED = "from __future__ import annotations\n\n\ndef answer() -> int:\n    return 42\n"
OLD, NEW = "py3.6-six1.16.0", "py3.7-six1.16.0"


def publish(wheels, version, source):
    wheel(wheels, DEP, version, {"tfpin_fixture_dep/__init__.py": source})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The project after a `tfpin matrix` that saw only 1.0: (project, wheels, envs, environment)."""
    root = tmp_path_factory.mktemp("drift")
    project = make_project(root / "p", config_extra='install = ["%s>=1.0"]' % DEP)
    (project / "tests" / "test_fixture.py").write_text(textwrap.dedent(SUITE))
    (project / "tests" / "conftest.py").write_text("")
    wheels, envs = root / "wheels", root / "envs"
    publish(wheels, "1.0", PLAIN)
    env = harness_env(UV_FIND_LINKS=str(wheels))
    out = tfpin(project, "matrix", envs=envs, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    for cell in (OLD, NEW):
        assert "%s==1.0" % DEP in (project / "reports" / "locks" / (cell + ".txt")).read_text()
    return project, wheels, envs, env


def drift_report(project):
    return {c["cell"]: c for c in json.loads((project / "reports" / "drift.json").read_text())["cells"]}


def test_nothing_new_offered_every_cell_is_unchanged(world):
    project, wheels, envs, env = world
    out = tfpin(project, "drift", envs=envs, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    cells = drift_report(project)
    assert {c: f["status"] for c, f in cells.items()} == {OLD: "unchanged", NEW: "unchanged"}
    assert all(f["trials"] == [] for f in cells.values())  # nothing changed, so nothing ran
    assert out.stdout.count("unchanged: today's index resolves the cell to its lock") == 2
    assert "drift: 2 unchanged; wrote reports/drift.json and .md" in out.stdout


def test_a_new_release_that_breaks_one_cell_is_named_with_the_pin_that_holds_it(world):
    project, wheels, envs, env = world
    evidence = {p: p.read_bytes() for kind in ("locks", "cells", "artifacts")
                for p in (project / "reports" / kind).rglob("*") if p.is_file()}
    assert len([p for p in evidence if p.name == "value.txt"]) == 2
    publish(wheels, "1.1", PLAIN)
    publish(wheels, "1.2", ANNOTATED)
    out = tfpin(project, "drift", envs=envs, env=env, timeout=600)
    assert out.returncode == 1, out.stdout + out.stderr
    cells = drift_report(project)

    broken = cells[OLD]
    assert broken["status"] == "breaks" and broken["last_verdict"] == "passed"
    assert broken["changes"] == [{"package": DEP, "locked": "1.0", "today": "1.2"}]
    assert broken["error"].startswith("SyntaxError: future feature annotations is not defined")
    assert "tfpin_fixture_dep/__init__.py" in broken["error"]
    (pin,) = broken["pins"]
    assert (pin["pin"], pin["last_good"], pin["first_bad"]) == ("%s<1.2" % DEP, "1.1", "1.2")
    assert broken["moves"] == [{"package": DEP, "locked": "1.0", "today": "1.1"}]  # with the pin, 1.1 is fine
    labels = [(t["label"], t["verdict"]) for t in broken["trials"]]
    assert labels[:2] == [("today's set", "fail"), ("the lock (its last run)", "pass")], labels
    assert ("%s bisect 1.1" % DEP, "pass") in labels, labels

    moving = cells[NEW]
    assert moving["status"] == "can move on" and moving["error"] == "" and moving["pins"] == []
    assert moving["moves"] == [{"package": DEP, "locked": "1.0", "today": "1.2"}]

    assert "BREAKS with %s 1.0 -> 1.2: SyntaxError" % DEP in out.stdout
    # the break is a problem line too (stderr, never silenced)
    assert "the pin %s<1.2 holds it (1.1 passes, 1.2 breaks)" % DEP in out.stderr
    assert "can move on: passes with %s 1.0 -> 1.2" % DEP in out.stdout
    md = (project / "reports" / "drift.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| `%s` |" % OLD))
    assert "**breaks**" in row and "SyntaxError: future feature annotations" in row and "`%s<1.2`" % DEP in row
    # The cells' own evidence is untouched: drift ran in the trial envs, never in the cells' envs.
    assert evidence == {p: p.read_bytes() for p in evidence}
    frozen = tfpin(project, "cell", OLD, envs=envs, env=env)
    assert frozen.returncode == 0 and "cached" in frozen.stdout + frozen.stderr, frozen.stdout + frozen.stderr


def test_drift_without_a_lock_is_bad_input(tmp_path):
    project = make_project(tmp_path / "p")
    out = tfpin(project, "drift", envs=tmp_path / "envs")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "no selected cell of matrix 'faults' has a lock to compare with: run `tfpin matrix` first" in out.stderr
    assert "no result for cell %s" % OLD in out.stderr and "Traceback" not in out.stderr
    for args, said in ((["--", "-k", "answer"], "it takes no pytest arguments after `--` (got: -k answer)"),
                       (["-j", "0"], "--jobs must be 1 or more (got 0)"),
                       (["--cells", "py9.9-nope"], "py9.9-nope")):
        bad = tfpin(project, "drift", *args, envs=tmp_path / "envs")
        assert bad.returncode == 2 and said in bad.stderr and "Traceback" not in bad.stderr, bad.stderr


def test_help_says_what_the_exit_codes_mean(tmp_path):
    out = tfpin(tmp_path, "drift", "--help")
    assert out.returncode == 0
    assert "0  no cell that passed breaks with today's releases" in out.stdout
    assert "1  a cell that passed breaks today" in out.stdout and "2  bad input" in out.stdout


def passed_with_only_1_0(tmp_path):
    """A one-cell project whose install line takes the dependency at >=1.0, its matrix run passed while the local
    index offered only 1.0: (project, the wheels directory, the environment that points uv at it)."""
    project = make_project(tmp_path / "p", config_extra='install = ["%s>=1.0"]' % DEP)
    (project / "tests" / "test_fixture.py").write_text(textwrap.dedent(SUITE))
    (project / "tests" / "conftest.py").write_text("")
    wheels = tmp_path / "wheels"
    publish(wheels, "1.0", PLAIN)
    env = harness_env(UV_FIND_LINKS=str(wheels))
    assert tfpin(project, "matrix", "--cells", NEW, envs=tmp_path / "envs", env=env).returncode == 0
    return project, wheels, env


def test_a_break_the_lock_shares_is_the_projects_not_the_index(tmp_path):
    """The project's own test changed after its matrix run, and a release appeared: the lock is tried today (its
    last run tested other sources), fails the same way, and the cell is named as failing with its lock."""
    project, wheels, env = passed_with_only_1_0(tmp_path)
    (project / "tests" / "test_fixture.py").write_text(textwrap.dedent(SUITE).replace("== 42", "== 43"))
    publish(wheels, "1.1", PLAIN)
    out = tfpin(project, "drift", "--cells", NEW, envs=tmp_path / "envs", env=env)
    assert out.returncode == 1, out.stdout + out.stderr
    found = drift_report(project)[NEW]
    assert found["status"] == "fails with its lock" and found["pins"] == []
    assert found["error"].startswith("its lock fails today too (so the project changed, not the index): ")
    assert "assert 42 == 43" in found["error"]
    trials = [(t["label"], t["verdict"]) for t in found["trials"]]
    assert trials == [("today's set", "fail"), ("the lock today", "fail")]


def test_a_definition_that_no_longer_resolves_breaks_the_cell(tmp_path):
    """The only release the install line allows is gone from the index (deleted, or yanked): today's definition
    does not resolve, and the cell that passed breaks with the installer's own words."""
    project, wheels, env = passed_with_only_1_0(tmp_path)
    for old in wheels.iterdir():
        old.unlink()
    out = tfpin(project, "drift", "--cells", NEW, envs=tmp_path / "envs", env=env)
    assert out.returncode == 1, out.stdout + out.stderr
    found = drift_report(project)[NEW]
    assert found["status"] == "breaks" and found["trials"] == [] and found["pins"] == []
    assert found["error"].startswith("today's definition does not resolve: ")
    assert DEP in found["error"], found["error"]
