"""pytest plugin the harness loads into every cell run (`-p tfpin_progress`); runs on Python 3.6+.

Writes the id of the test that is starting to $TFPIN_PROGRESS, so when pytest dies without a
JUnit report (a segfault, a kill at the deadline) the harness can still name the test that
was running. One short write per test; nothing else.
"""
import os


def pytest_runtest_logstart(nodeid, location):
    path = os.environ.get("TFPIN_PROGRESS")
    if not path:
        return
    try:  # bookkeeping must never be what breaks a suite
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path))
        with open(path, "w") as f:
            f.write(nodeid + "\n")
    except OSError:
        pass
