"""The host's side of talking to a cell: the environment and the pytest command line a cell's processes get, and
reading back what they left (the JUnit report, the in-cell plugins' records).

Every step that starts something in a cell (the suite, the readers between cells, pin discovery's trials, `tfpin
init`'s collection) builds it here, so they all see the same cell. The variables' names are the in-cell package's
(cellplugin/tfpin_vars.py), shared with the plugins that read them.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from tfpin import environ, procs
from tfpin.cell import junit
from tfpin.cell.envs import PLUGIN_DIR
from tfpin.cellplugin import tfpin_vars as var
from tfpin.config.cells import Cell
from tfpin.config.context import Context

# The in-cell plugins of every pytest tfpin starts in a cell (a collection for `tfpin init` included), and no cache.
PYTEST_PLUGINS = ("-p", "no:cacheprovider", "-p", "tfpin_progress", "-p", "tfpin_cross", "-p", "tfpin_census",
                  "-p", "tfpin_loaded")
PYTEST_USAGE_LINE = re.compile(r"^(ERROR: |pytest: error: |[\w.]+: error: )")


def host_environ(cell: Cell, ctx: Context) -> dict:
    """What of the host reaches the cell (tfpin/environ.py: the allowlist and the project's `pass_env`)."""
    return environ.suite(Path(ctx.layout.env(cell.id)).resolve() / "bin", ctx.project.pass_env)


def cell_environ(cell: Cell, ctx: Context) -> dict:
    """The whole environment of a cell's processes: the host's allowed part, tfpin's plugins and record paths,
    the project's `[env]` (its PYTHONPATH in front of the root's)."""
    env = host_environ(cell, ctx)
    layout = ctx.layout
    env["PYTHONPATH"] = os.pathsep.join([str(ctx.project.root), str(PLUGIN_DIR)])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env[var.CELL] = cell.env_token()
    env[var.PROGRESS] = str(layout.transient("progress", cell.id))
    env[var.OUTCOME] = str(layout.transient("outcome", cell.id))
    env[var.ARTIFACTS] = str(layout.evidence("artifacts", cell.id))  # tfpin_artifact writes here
    env[var.NOTICES] = str(layout.transient("notices", cell.id))  # the census of deprecation notices
    env[var.LOADED] = str(layout.transient("loaded", cell.id))  # what pytest read: the verdict cache's key
    if ctx.log_level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = str(ctx.log_level)
    env.update({k: v for k, v in ctx.project.env.items() if k != "PYTHONPATH"})
    if ctx.project.env.get("PYTHONPATH"):  # in front of the root and tfpin's plugins, relative to the root
        own = [str(ctx.project.root / p) for p in ctx.project.env["PYTHONPATH"].split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(own + [env["PYTHONPATH"]])
    return env


def pytest_command(python, args, junit_path: Path, *extra) -> list[str]:
    """pytest as tfpin runs it in a cell env: no cache, the progress plugin, JUnit (xunit1) to `junit_path`."""
    return [str(python), "-m", "pytest", *args, *PYTEST_PLUGINS, "-q", "--junitxml", str(junit_path),
            "-o", "junit_family=xunit1", *extra]


def read_junit(junit_path: Path, exit_code) -> tuple[junit.Counts | None, str]:
    """(counts, '') from a finished pytest's JUnit; (None, why) when it is unreadable, and then it is deleted.

    A killed or crashed pytest (exit None or negative) leaves nothing that counts: any file there is removed.
    """
    tests, unreadable = None, ""
    if junit_path.exists() and exit_code is not None and exit_code >= 0:
        try:
            tests = junit.read(junit_path)
        except junit.CorruptReport as exc:
            unreadable = str(exc)
    if tests is None and junit_path.exists():
        junit_path.unlink()  # half-written, or left by a killed run: not evidence of anything
    return tests, unreadable


def usage_error(log_name: str, offset: int) -> str:
    """pytest's own words when it refused its arguments (the lines it printed after the command)."""
    try:
        with open(log_name, encoding="utf-8", errors="replace") as f:
            f.seek(offset)
            lines = [ln.strip() for ln in f.read().splitlines()]
    except OSError:
        return ""
    said = [ln for ln in lines if PYTEST_USAGE_LINE.match(ln)]
    return " | ".join(said[-3:])[:400]


def import_check(cell: Cell, ctx: Context, python) -> dict:
    """The pinned packages' import check as a process of its own (cellplugin/tfpin_imports.py as a script): only
    for a suite whose pytest ended before its collection was done, where the in-suite check never ran."""
    names = [name for name, _ in cell.requirements]
    code, out = procs.run([python, PLUGIN_DIR / "tfpin_imports.py", *names], cwd=ctx.project.root,
                          env=cell_environ(cell, ctx), timeout=600)
    data = procs.last_json(out)
    if data is None or "failures" not in data:
        data = {"modules": {}, "failures": [{"dist": ", ".join(names), "module": "?", "error": "the import check "
                                             "exited %s: %s" % (code, procs.tail(out) or "no output")}]}
    return data


def loaded_of(data, root: Path) -> dict | None:
    """What the run read (cellplugin/tfpin_loaded.py), its paths relative to the project root (`..` above it)."""
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return None
    real_root = os.path.realpath(root)

    def relative(path):
        return os.path.relpath(path, real_root) if isinstance(path, str) else None

    return {"rootdir": relative(data.get("rootdir")), "inifile": relative(data.get("inifile")),
            "files": {relative(k): v for k, v in sorted(data["files"].items()) if isinstance(v, str)}}


def last_error(log_path: Path) -> str:
    """pytest died before any test (a plugin or conftest import): the exception line of its traceback."""
    lines = [ln.strip() for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    errors = [ln.lstrip("E ").strip() for ln in lines if re.match(r"^(E\s+)?[\w.]*(Error|Exception)\b[:(]", ln)]
    return errors[-1][:300] if errors else ""
