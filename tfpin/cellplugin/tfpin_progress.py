"""pytest plugin the harness loads into every cell run (`-p tfpin_progress`); runs on Python 3.6+.

Two records, because a JUnit file alone cannot tell a complete run from one cut short:
- $TFPIN_PROGRESS: {"test": the id of the test that is starting, "done": tests with an outcome, "collected"},
  so when pytest dies without a JUnit report (a segfault, a kill at the deadline) the harness can still
  name the test that was running, and while it runs the console can show how far the cell is;
- $TFPIN_OUTCOME, at the end of the session: how many tests were collected, which of them got an
  outcome, and pytest's exit status. A conftest calling `pytest.exit(..., returncode=0)` after the
  first test leaves exit 0 and a JUnit file with one pass; this record shows the other tests never ran.
One short write per test and one at the end; bookkeeping must never be what breaks a suite.
Under pytest-xdist (`-n 2` in a project's addopts) only the controller writes: it hears every worker's
collection and every test's outcome, while each worker sees only its own share.
"""
import json
import os

import pytest
import tfpin_vars  # beside this file

WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # set by pytest-xdist in its worker processes

_collected = []
_outcomes = {}
_collection_skips = []  # modules skipped while collecting (a module-level importorskip): JUnit lists them too


def _write(env_name, text):
    path = os.environ.get(env_name)
    if not path or WORKER:
        return
    try:
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path))
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        pass


def pytest_collection_finish(session):
    _collected[:] = [item.nodeid for item in session.items]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    """The controller collects nothing itself: each worker reports the same ids, so the first answer is it."""
    if not _collected:
        _collected[:] = list(ids)


def pytest_collectreport(report):
    if report.skipped:
        _collection_skips.append(report.nodeid)


def pytest_runtest_logstart(nodeid, location):
    _write(tfpin_vars.PROGRESS, json.dumps({"test": nodeid, "done": len(_outcomes), "collected": len(_collected)}))


def pytest_runtest_logreport(report):
    # A test has an outcome once its call ran, or once its setup failed or skipped it.
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _outcomes.setdefault(report.nodeid, report.outcome)


def pytest_sessionfinish(session, exitstatus):
    ran = set(_outcomes)
    missing = [nodeid for nodeid in _collected if nodeid not in ran]
    _write(tfpin_vars.OUTCOME, json.dumps({
        "collected": len(_collected), "with_outcome": len([n for n in _collected if n in ran]),
        "exitstatus": int(exitstatus), "not_run": missing[:20], "not_run_count": len(missing),
        "collection_skips": len(_collection_skips),
    }) + "\n")
