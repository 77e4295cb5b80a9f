"""Run one cell end to end: fresh evidence, environment, the project's suite, result record.

Nothing here raises for a cell-level problem: every outcome becomes a result with a
status and a reason naming the cell, so one broken cell never costs the others. The one
exception is an interrupt (Ctrl-C, SIGTERM): the running cell is recorded as
`interrupted` and the interrupt goes on up, so the run stops.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import signal
import time
from pathlib import Path

from . import junit, procs
from .cells import Cell
from .envs import PLUGIN_DIR, CellEnv, EnvLock, InstallError, MissingInterpreter, Unavailable, parse_freeze
from .status import ERROR, INTERRUPTED, MISSING, UNAVAILABLE, classify

KEY_PACKAGES = ("tensorflow", "intel-tensorflow", "tensorflow-gpu", "keras", "tf-keras", "numpy", "protobuf", "h5py",
                "gast", "keras-applications", "keras-preprocessing", "tensorflow-estimator", "scipy", "scikit-learn",
                "pytest")
# Host variables that would change what a cell runs (a `-k` in PYTEST_ADDOPTS, a host PYTHONPATH,
# TF's log/threading knobs, Keras backend choice): never inherited; tfpin sets what cells need.
SCRUBBED_PREFIXES = ("PYTHON", "PYTEST_", "TF_", "KERAS_")
SCRUBBED = ("VIRTUAL_ENV",)
EVIDENCE = (("junit", ".xml"), ("locks", ".txt"), ("logs", ".log"), ("cells", ".json"), ("progress", ".txt"))


class Context:
    """What every cell of one run shares: the project, where things go, how the suite is run."""

    def __init__(self, project, reports: Path, envs: Path, log_level: int | None = None, selection=None):
        self.project = project
        self.reports, self.envs = Path(reports), Path(envs)
        self.log_level = log_level
        self.selection = list(selection) if selection else None  # pytest args after --: a debugging subset
        self.install_digest = project.install_digest()  # read once: the named files do not change mid-run

    @property
    def deadline(self) -> int:
        """The whole suite's bound; pytest-timeout catches single hung tests long before."""
        return self.project.timeout * 4


class CellInterrupted(BaseException):
    def __init__(self, result: dict, code: int):
        super().__init__(result["reason"])
        self.result, self.code = result, code


def stamp(cell: Cell, install_digest: dict) -> str:
    """Fingerprint of what the cell installs; a stored result counts only while it matches."""
    data = json.dumps({**cell.definition(), **install_digest}, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def base_result(cell: Cell, ctx: Context) -> dict:
    pins = cell.pins
    return {
        "id": cell.id, "python": cell.python,
        "tensorflow": pins.get("tensorflow"), "keras": pins.get("keras"),
        "requirements": pins, "constraints": cell.constraint_lines(),
        "definition": cell.definition(), "stamp": stamp(cell, ctx.install_digest), "selection": ctx.selection,
        "status": None, "reason": "",
        "tests": {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}, "failing": [],
        "durations": {"setup_s": 0.0, "tests_s": 0.0},
        "resolved": {}, "env": {}, "started": now(), "finished": None,
    }


def evidence_path(ctx: Context, kind: str, cell: Cell) -> Path:
    return ctx.reports / kind / (cell.id + dict(EVIDENCE)[kind])


def clear_evidence(cell: Cell, ctx: Context) -> None:
    """A cell's earlier JUnit, lock, log and result never outlive its next run, whatever that run ends as."""
    for kind, _ in EVIDENCE:
        path = evidence_path(ctx, kind, cell)
        if path.exists():
            path.unlink()


def cell_environ(cell: Cell, ctx: Context) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES) and k not in SCRUBBED}
    env["PYTHONPATH"] = os.pathsep.join([str(ctx.project.root), str(PLUGIN_DIR)])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["TFPIN_CELL"] = cell.env_token()
    env["TFPIN_PROGRESS"] = str(evidence_path(ctx, "progress", cell))
    if ctx.log_level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = str(ctx.log_level)
    env.update(ctx.project.env)
    return env


def prepare(cell: Cell, ctx: Context, result: dict, log) -> CellEnv | None:
    """Build or reuse the env; fill setup time, lock file and resolved versions. None if unusable."""
    env = CellEnv(cell, ctx.envs, ctx.project.root, ctx.install_digest)
    start = time.monotonic()
    try:
        info = env.ensure(log)
        freeze = env.freeze()
    except MissingInterpreter as exc:
        result.update(status=MISSING, reason="%s: %s" % (cell.id, exc))
        return None
    except Unavailable as exc:
        result.update(status=UNAVAILABLE, reason="%s: %s" % (cell.id, exc))
        return None
    except InstallError as exc:
        result.update(status=ERROR, reason="%s: environment: %s" % (cell.id, exc))
        return None
    finally:
        result["durations"]["setup_s"] = round(time.monotonic() - start, 2)
    result["env"] = {"installer": info["installer"], "reused": info["reused"], "path": str(env.path)}
    if info["rebuilt_because"]:
        result["env"]["rebuilt_because"] = info["rebuilt_because"]
    lock = evidence_path(ctx, "locks", cell)
    write_atomic(lock, freeze)
    result["lock"] = rel(lock, ctx)
    env.resolved = parse_freeze(freeze)
    result["resolved"] = {k: env.resolved[k] for k in KEY_PACKAGES if k in env.resolved}
    return env


def run_cell(cell: Cell, ctx: Context, announce=lambda text: None) -> dict:
    result = base_result(cell, ctx)
    clear_evidence(cell, ctx)
    log_path = evidence_path(ctx, "logs", cell)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    phase = "waiting for its environment"
    with open(log_path, "w", encoding="utf-8") as log_file:
        def log(text):
            log_file.write(text.rstrip("\n") + "\n")
            log_file.flush()

        try:
            with EnvLock(ctx.envs / cell.id, announce):
                phase = "building its environment"
                env = prepare(cell, ctx, result, log)
                if env is not None:
                    phase = "running its tests"
                    run_suite(cell, ctx, env, result, log_file, log)
        except (KeyboardInterrupt, procs.Interrupted) as exc:
            code = exc.code if isinstance(exc, procs.Interrupted) else 130
            name = exc.name if isinstance(exc, procs.Interrupted) else signal.Signals.SIGINT.name
            result.update(status=INTERRUPTED, reason="%s: interrupted by %s while %s" % (cell.id, name, phase))
            result["finished"] = now()
            log("== %s" % result["reason"])
            raise CellInterrupted(result, code) from None
        if result["status"] in (MISSING, UNAVAILABLE, ERROR) and not result["durations"]["tests_s"]:
            log("== %s: %s" % (result["status"], result["reason"]))
    result["log"] = rel(log_path, ctx)
    result["finished"] = now()
    return result


def run_suite(cell: Cell, ctx: Context, env: CellEnv, result: dict, log_file, log) -> None:
    junit_path = evidence_path(ctx, "junit", cell)
    progress = evidence_path(ctx, "progress", cell)
    junit_path.parent.mkdir(parents=True, exist_ok=True)
    progress.parent.mkdir(parents=True, exist_ok=True)
    cmd = pytest_command(env.python, ctx.project.test, junit_path, "-rs", "-o", "junit_suite_name=" + cell.id)
    if "pytest-timeout" in env.resolved:
        cmd += ["--timeout", str(ctx.project.timeout)]
    cmd += ctx.selection or []
    log("$ " + " ".join(cmd))
    start = time.monotonic()
    exit_code, _ = procs.run(cmd, cwd=ctx.project.root, env=cell_environ(cell, ctx), stdout=log_file,
                             timeout=ctx.deadline)
    result["durations"]["tests_s"] = round(time.monotonic() - start, 2)
    running = progress.read_text().strip() if progress.exists() else ""
    crash = ""
    if exit_code is None:
        crash = "pytest was still running after the %d s deadline and was killed%s" % (
            ctx.deadline, "; the test running: " + running if running else "")
    elif exit_code < 0:
        crash = "pytest died from %s%s" % (signal.Signals(-exit_code).name,
                                          " while running " + running if running else "")
    tests, unreadable = read_junit(junit_path, exit_code)
    if unreadable:
        crash = "its JUnit report %s is unreadable (%s)" % (rel(junit_path, ctx), unreadable)
    if tests:
        result["tests"] = {k: tests[k] for k in ("passed", "failed", "skipped", "errors")}
        result["failing"] = tests["failing"]
        result["skips"] = tests["skip_reasons"]
        result["notes"] = tests["notes"]
        result["junit"] = rel(junit_path, ctx)
    status, reason = classify(tests, exit_code, crash)
    result["status"] = status
    result["reason"] = "%s: %s (log: %s)" % (cell.id, reason, rel(evidence_path(ctx, "logs", cell), ctx)) \
        if reason else ""
    if progress.exists():
        progress.unlink()


def pytest_command(python, args, junit_path: Path, *extra) -> list[str]:
    """pytest as tfpin runs it in a cell env: no cache, the progress plugin, JUnit (xunit1) to `junit_path`."""
    return [str(python), "-m", "pytest", *args, "-p", "no:cacheprovider", "-p", "tfpin_progress", "-q",
            "--junitxml", str(junit_path), "-o", "junit_family=xunit1", *extra]


def read_junit(junit_path: Path, exit_code) -> tuple[dict | None, str]:
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


def run_bench(cell: Cell, ctx: Context, args=()) -> dict:
    """Throughput of the training stack in this cell (resnet_core.bench --json), tied to the cell's stamp."""
    result = base_result(cell, ctx)
    with EnvLock(ctx.envs / cell.id, lambda text: None):
        env = prepare(cell, ctx, result, lambda _text: None)
        if env is None:
            return {"status": result["status"], "reason": result["reason"], "stamp": result["stamp"]}
        cmd = [str(env.python), "-m", "resnet_core.bench", "--json", *args]
        code, out = procs.run(cmd, cwd=ctx.project.root, env=cell_environ(cell, ctx))
    out = out or ""
    lines = [ln for ln in out.splitlines() if ln.strip().startswith("{")]
    try:
        data = json.loads(lines[-1])
    except (IndexError, ValueError):
        data = None
    if data is not None and data.get("loss_finite") is False:
        data.update(status=ERROR, stamp=result["stamp"], reason="%s: the training loss was not finite during the "
                    "timed steps: a throughput of a diverged run is not reported" % cell.id)
        data.pop("images_per_sec", None)
        data.pop("keras_images_per_sec", None)
        return data
    if code != 0 or data is None:
        tail = " | ".join(out.strip().splitlines()[-5:])
        return {"status": ERROR, "reason": "%s: bench exited %s: %s" % (cell.id, code, tail or "no JSON printed"),
                "stamp": result["stamp"]}
    data["stamp"] = result["stamp"]
    data["status"] = "measured"
    return data


def rel(path: Path, ctx: Context | None = None) -> str:
    base = ctx.project.root if ctx is not None else Path.cwd()
    try:
        return str(Path(path).resolve().relative_to(Path(base).resolve()))
    except ValueError:
        return str(path)


def write_atomic(path: Path, text: str) -> None:
    """Temp file + rename: a reader (or an interrupted run) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp%d" % os.getpid())
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
