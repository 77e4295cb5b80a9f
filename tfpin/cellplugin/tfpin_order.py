"""pytest plugin for pin discovery's trials (`-p tfpin_order`); runs on Python 3.6+.

A trial runs its oracle with -x: the first failure is the verdict. The tests that failed in earlier trials
(of any cell of the same search, listed one node id a line in $TFPIN_FIRST) run first, in that order, so a
trial that fails the way an earlier one did fails in seconds instead of after every passing test. Only
the order changes: the same tests run, and a passing trial still runs them all.
"""
import os

import pytest
import tfpin_vars  # beside this file


def _first():
    path = os.environ.get(tfpin_vars.FIRST)
    if not path:
        return []
    try:
        with open(path) as f:
            return [line.strip() for line in f if line.strip()]
    except OSError:
        return []


@pytest.hookimpl(trylast=True)  # after any plugin that reorders or deselects
def pytest_collection_modifyitems(session, config, items):
    rank = {nodeid: i for i, nodeid in enumerate(_first())}
    if rank:
        items[:] = sorted(items, key=lambda item: rank.get(item.nodeid, len(rank)))  # stable: the rest keep order
