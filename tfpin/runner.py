"""Run one cell end to end: environment, cell suite, result record.

Nothing here raises for a cell-level problem: every outcome becomes a result with a
status and a reason naming the cell, so one broken cell never costs the others.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from . import junit
from .cells import Cell
from .envs import CellEnv, InstallError, Unavailable, parse_freeze
from .status import ERROR, UNAVAILABLE, classify

ROOT = Path(__file__).resolve().parent.parent
KEY_PACKAGES = ("tensorflow", "keras", "numpy", "protobuf", "h5py", "gast", "keras-applications",
                "keras-preprocessing", "tensorflow-estimator", "scipy", "scikit-learn", "pytest")


class Context:
    """Where things go and how the suite is run; shared by every cell of a run."""

    def __init__(self, reports: Path, envs: Path, log_level: int | None = None, pytest_args=(),
                 suite: str = "tests/cell", timeout: int = 900):
        self.reports, self.envs = Path(reports), Path(envs)
        self.log_level, self.pytest_args, self.suite, self.timeout = log_level, list(pytest_args), suite, timeout


def base_result(cell: Cell) -> dict:
    pins = cell.pins
    return {
        "id": cell.id, "python": cell.python,
        "tensorflow": pins.get("tensorflow"), "keras": pins.get("keras"),
        "requirements": pins, "constraints": cell.constraint_lines(),
        "status": None, "reason": "",
        "tests": {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}, "failing": [],
        "durations": {"setup_s": 0.0, "tests_s": 0.0},
        "resolved": {}, "env": {},
    }


def cell_environ(cell: Cell, ctx: Context) -> dict:
    env = dict(os.environ)
    for var in ("PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        env.pop(var, None)
    env["PYTHONPATH"] = str(ROOT)
    env["TFPIN_CELL"] = cell.env_token()
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if ctx.log_level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = str(ctx.log_level)
    return env


def prepare(cell: Cell, ctx: Context, result: dict, log) -> CellEnv | None:
    """Build or reuse the env; fill setup time, lock file and resolved versions. None if unusable."""
    env = CellEnv(cell, ctx.envs)
    start = time.monotonic()
    try:
        info = env.ensure(log)
    except Unavailable as exc:
        result.update(status=UNAVAILABLE, reason="%s: %s" % (cell.id, exc))
        return None
    except InstallError as exc:
        result.update(status=ERROR, reason="%s: environment: %s" % (cell.id, exc))
        return None
    finally:
        result["durations"]["setup_s"] = round(time.monotonic() - start, 2)
    result["env"] = {"installer": info["installer"], "reused": info["reused"], "path": str(env.path)}
    freeze = env.freeze()
    write_atomic(ctx.reports / "locks" / (cell.id + ".txt"), freeze)
    resolved = parse_freeze(freeze)
    result["resolved"] = {k: resolved[k] for k in KEY_PACKAGES if k in resolved}
    return env


def run_cell(cell: Cell, ctx: Context) -> dict:
    result = base_result(cell)
    log_path = ctx.reports / "logs" / (cell.id + ".log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log_file:
        def log(text):
            log_file.write(text.rstrip("\n") + "\n")
            log_file.flush()

        env = prepare(cell, ctx, result, log)
        if env is None:
            log("== %s: %s" % (result["status"], result["reason"]))
            return result
        junit_path = ctx.reports / "junit" / (cell.id + ".xml")
        junit_path.parent.mkdir(parents=True, exist_ok=True)
        if junit_path.exists():
            junit_path.unlink()
        cmd = [str(env.python), "-m", "pytest", ctx.suite, "-p", "no:cacheprovider", "-q", "-rs",
               "--junitxml", str(junit_path), "-o", "junit_suite_name=" + cell.id,
               "-o", "junit_family=xunit1", "--timeout", str(ctx.timeout), *ctx.pytest_args]
        log("$ " + " ".join(cmd))
        start = time.monotonic()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=cell_environ(cell, ctx), stdout=log_file,
                                  stderr=subprocess.STDOUT, timeout=ctx.timeout * 4)
            exit_code = proc.returncode
        except subprocess.TimeoutExpired:
            exit_code = "timeout"
        result["durations"]["tests_s"] = round(time.monotonic() - start, 2)
        tests = junit.read(junit_path) if junit_path.exists() else None
        if tests:
            result["tests"] = {k: tests[k] for k in ("passed", "failed", "skipped", "errors")}
            result["failing"] = tests["failing"]
            result["skips"] = tests["skip_reasons"]
        status, reason = classify(tests, exit_code)
        result["status"] = status
        result["reason"] = "%s: %s (log: %s)" % (cell.id, reason, rel(log_path)) if reason else ""
        result["log"] = rel(log_path)
        result["junit"] = rel(junit_path)
        return result


def run_bench(cell: Cell, ctx: Context, args=()) -> dict:
    """Throughput of the training stack in this cell (resnet_core.bench --json)."""
    result = base_result(cell)
    env = prepare(cell, ctx, result, lambda _text: None)
    if env is None:
        return {"status": result["status"], "reason": result["reason"]}
    cmd = [str(env.python), "-m", "resnet_core.bench", "--json", *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=cell_environ(cell, ctx), capture_output=True, text=True)
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-5:])
        return {"status": ERROR, "reason": "%s: bench exited %d: %s" % (cell.id, proc.returncode, tail)}
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith("{")]
    try:
        data = json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"status": ERROR, "reason": "%s: bench printed no JSON object" % cell.id}
    data["status"] = "measured"
    return data


def rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def write_atomic(path: Path, text: str) -> None:
    """Temp file + rename: a reader (or an interrupted run) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp%d" % os.getpid())
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)

