"""What pytest collects in a cell, asked of pytest itself (`cellplugin/tfpin_collect.py`).

tfpin keeps no model of pytest's collection rules (python_files, unittest classes, testpaths, conftest
hooks, plugins from addopts): pytest answers, in the environment the matrix will run, with the
project's own configuration and the same plugins tfpin loads into every cell run.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from tfpin import procs
from tfpin.cell.incell import PYTEST_PLUGINS, PYTEST_USAGE_LINE
from tfpin.cellplugin import tfpin_vars as var

COLLECT_TIMEOUT = 900  # seconds: collection imports every test module (TensorFlow included)


class Collected:
    """One pytest collection: the node ids in pytest's order, the modules that failed to collect, and what
    pytest said when it refused to start (its usage error, exit 4)."""

    def __init__(self, ids, errors, exitstatus, refused="", inifile=None):
        self.ids, self.errors, self.exitstatus = list(ids), list(errors), exitstatus
        self.refused, self.inifile = refused, inifile

    @property
    def modules(self) -> list[str]:
        """The files the collected ids are in, in pytest's order."""
        return list(dict.fromkeys(i.split("::")[0] for i in self.ids))

    @property
    def error_paths(self) -> list[str]:
        return [e["nodeid"] for e in self.errors if e["nodeid"]]

    def same_as(self, other: Collected) -> bool:
        return not self.errors and not self.refused and sorted(self.ids) == sorted(other.ids)


def collect(python, args, root: Path, environ: dict) -> Collected:
    """pytest --collect-only with `args` from `root`, in the cell whose Python and environment are given."""
    fd, out_path = tempfile.mkstemp(prefix="tfpin-collect-", suffix=".json")
    os.close(fd)
    os.unlink(out_path)
    env = dict(environ)
    env[var.COLLECT] = out_path
    cmd = [str(python), "-m", "pytest", *args, "--collect-only", "-q", *PYTEST_PLUGINS, "-p", "tfpin_collect"]
    try:
        code, out = procs.run(cmd, cwd=root, env=env, timeout=COLLECT_TIMEOUT, stop_codes=(2,))
        try:
            data = json.loads(Path(out_path).read_text())
        except (OSError, ValueError):
            data = None
    finally:
        if os.path.exists(out_path):
            os.unlink(out_path)
    said = [ln.strip() for ln in (out or "").splitlines() if PYTEST_USAGE_LINE.match(ln.strip())]
    if data is None:
        if code is None:
            refused = "pytest's collection was still running after %d s and was killed" % COLLECT_TIMEOUT
        else:
            tail = [ln.strip() for ln in (out or "").splitlines() if ln.strip()]
            refused = " | ".join(said[-3:] or tail[-3:]) or "pytest exited %s and said nothing" % code
        return Collected([], [], code, refused[:500])
    return Collected(data["ids"], data["errors"], data["exitstatus"], " | ".join(said[-3:])[:500]
                     if data["exitstatus"] == 4 else "", data.get("inifile"))


def smallest_selection(full: Collected, ask) -> list[str] | None:
    """The fewest pytest arguments whose collection gives exactly `full`'s ids with no collection error:
    [] when pytest's own discovery from the root already does; else the top-level paths holding the ids
    (with --ignore for the modules that failed to collect under them), else the modules one by one.
    `ask(args)` collects with those arguments. None when no candidate gives the same ids."""
    if not full.ids:
        return None
    if not full.errors:
        return []
    tops = list(dict.fromkeys(m.split("/")[0] for m in full.modules))
    ignores = ["--ignore=" + p.rstrip("/") for p in full.error_paths
               if p.split("/")[0] in tops and p.split("::")[0] not in full.modules]
    candidates = [tops + ignores, full.modules]
    for args in candidates:
        if ask(args).same_as(full):
            return args
    return None

