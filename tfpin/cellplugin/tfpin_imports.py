"""Does every pinned package of the cell import? Runs inside the cell's Python (3.6+) before its suite.

A suite may guard its TensorFlow tests with `pytest.importorskip("tensorflow")`: where TensorFlow cannot
import (a GPU build on a machine without its CUDA), those tests are skipped, the rest pass, and the
cell would look green while it proved nothing about the pinned release. So the harness imports each
pinned distribution's top-level modules here, in the environment the suite gets, and a failure
fails the cell. Prints one JSON line: {"modules": {dist: [modules]}, "failures": [{dist, module, error}]}.
"""
import importlib
import json
import re
import sys
import sysconfig

from tfpin_probe import canonical, distributions, listed_modules, record, tops  # beside this file

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


def main(dists):
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
    sys.stdout.write("\n" + json.dumps({"modules": found, "failures": failures}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
