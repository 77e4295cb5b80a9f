"""Does every pinned package of the cell import? Runs inside the cell's Python (3.6+), in the suite's own pytest.

A suite may guard its TensorFlow tests with `pytest.importorskip("tensorflow")`: where TensorFlow cannot
import (a GPU build on a machine without its CUDA), those tests are skipped, the rest pass, and the
cell would look green while it proved nothing about the pinned release. So the harness imports each
pinned distribution's top-level modules in the process the suite runs in, and a failure fails the cell.

As a pytest plugin (`-p tfpin_imports`, $TFPIN_PINNED the distributions, $TFPIN_IMPORTS where the record
goes): once collection is done (the project's conftests and test modules imported first, in their own
order: some set variables that must precede `import tensorflow`), it imports them, writes
{"modules": {dist: [modules]}, "failures": [{dist, module, error}]}, and on a failure ends the session before
any test runs. The import then costs nothing extra: the suite imports the same modules anyway. Under
pytest-xdist the controller checks once, when the first worker has collected, and the workers run on.
As a script (`python tfpin_imports.py DIST ...`) it prints the same record as one JSON line: what the harness
runs when pytest ended before its collection was done (a conftest that cannot import, a usage error).
"""
import importlib
import json
import os
import re
import sys
import sysconfig

import pytest
import tfpin_vars  # beside this file
from tfpin_probe import canonical, distributions, listed_modules, record, tops  # beside this file
from tfpin_records import WORKER, write_json  # beside this file

ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(Error|Exception|Exit)): .+")


def top_modules(dist, site):
    """The importable top-level modules a distribution installed (top_level.txt, checked against RECORD)."""
    for name, info in distributions(site):
        if name != dist:
            continue
        installed = {t for t in tops(record(info) or []) if not t.startswith(("..", "/"))}
        modules = [m for m in listed_modules(info, installed) if not m.startswith("_")]
        if not modules:  # no top_level.txt (flit/hatch wheels): the distribution's own name
            own = dist.replace("-", "_")
            modules = [own] if own in installed else sorted(
                m for m in installed if m.isidentifier() and not m.startswith("_"))[:1]
        return modules
    return []


def first_error(exc):
    """The line a person needs: TensorFlow wraps the loader's error in a long message; take the last
    `SomethingError: ...` line in it, else the exception's first line."""
    text = str(exc)
    lines = [ln.strip() for ln in text.splitlines() if ERROR_LINE.match(ln)]
    if lines:
        return lines[-1][:400]
    head = text.strip().splitlines()[0] if text.strip() else ""
    return ("%s: %s" % (type(exc).__name__, head))[:400]


def check(dists):
    site = sysconfig.get_paths()["purelib"]
    found, failures = {}, []
    for dist in dists:
        modules = top_modules(canonical(dist), site)
        found[dist] = modules
        for module in modules:
            try:
                importlib.import_module(module.replace("/", "."))
            except BaseException as exc:  # ImportError, but also a SystemExit or a crash inside an init
                failures.append({"dist": dist, "module": module, "error": first_error(exc)})
    return {"modules": found, "failures": failures}


def main(dists):
    sys.stdout.write("\n" + json.dumps(check(dists)) + "\n")
    return 0


_checked = []


def _check_once(stop):
    path, dists = os.environ.get(tfpin_vars.IMPORTS), os.environ.get(tfpin_vars.PINNED)
    if _checked or WORKER or not path or dists is None:
        return
    _checked.append(True)
    data = check(dists.split())
    write_json(path, data)
    if data["failures"] and stop:
        first = data["failures"][0]
        pytest.exit("tfpin: pinned package %s does not import (module %s): %s" % (
            first["dist"], first["module"], first["error"]), returncode=3)


def pytest_collection_finish(session):
    _check_once(stop=True)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    _check_once(stop=False)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
