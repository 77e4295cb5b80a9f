"""pytest plugin for `tfpin init` (`-p tfpin_collect`, with --collect-only); runs on Python 3.6+.

init does not keep its own model of what pytest collects: it asks pytest, in the cell the matrix will
run, with the project's own configuration. This plugin hands pytest's answer back as data, written to
$TFPIN_COLLECT at the end of the session: every collected node id, every module that failed to collect
with the line that says why, and the configuration file pytest read.
"""
import json
import os
import re

import tfpin_vars  # beside this file

_errors = []
_items = []
# The exception line of a failed import: "E   ModuleNotFoundError: No module named 'theano'".
_EXCEPTION = re.compile(r"^E\s+(\w[\w.]*(Error|Exception|Exit|Warning)\b.*)$")
_MISSING = re.compile(r"No module named '([\w.]+)'")


def _first_error(text):
    """The exception pytest printed for a failed collection (the last `E   SomeError: ...` line), else its last
    non-empty line."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    found = [m.group(1) for m in (_EXCEPTION.match(line) for line in lines) if m]
    if found:
        return found[-1][:400]
    said = [line[1:].strip() for line in lines if line.startswith("E ")]
    return (said[-1] if said else (lines[-1] if lines else "collection failed"))[:400]


def pytest_collectreport(report):
    if not report.failed:
        return
    text = str(report.longrepr)
    error = _first_error(text)
    missing = _MISSING.search(error) or _MISSING.search(text)
    _errors.append({"nodeid": report.nodeid, "error": error, "missing": missing.group(1) if missing else None})


def pytest_collection_finish(session):
    _items[:] = [item.nodeid for item in session.items]


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    inifile = getattr(config, "inipath", None) or getattr(config, "inifile", None)
    data = {"ids": _items, "errors": _errors, "exitstatus": int(exitstatus),
            "rootdir": str(getattr(config, "rootpath", None) or config.rootdir),
            "inifile": str(inifile) if inifile else None}
    path = os.environ.get(tfpin_vars.COLLECT)
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)
