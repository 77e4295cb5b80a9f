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
import re
import signal
import time
from pathlib import Path

from . import __version__, environ, junit, load, procs
from .cells import Cell
from .envs import PLUGIN_DIR, CellEnv, EnvLock, InstallError, MissingInterpreter, Unavailable
from .files import move_aside, remove, write_atomic
from .installer import parse_freeze
from .layout import EVIDENCE, TRANSIENT, Layout
from .result import CellResult, Counts
from .status import ERROR, FAILED, INTERRUPTED, MISSING, UNAVAILABLE, classify

# The in-cell plugins of every pytest tfpin starts in a cell (a collection for `tfpin init` included), and no cache.
PYTEST_PLUGINS = ("-p", "no:cacheprovider", "-p", "tfpin_progress", "-p", "tfpin_cross", "-p", "tfpin_census",
                  "-p", "tfpin_loaded")
PYTEST_USAGE_LINE = re.compile(r"^(ERROR: |pytest: error: |[\w.]+: error: )")


class Context:
    """What every cell of one run shares: the project, where things go, how the suite is run."""

    def __init__(self, project, reports: Path, envs: Path, log_level: int | None = None, selection=None):
        self.project = project
        self.layout = Layout(reports, envs)
        self.log_level = log_level
        self.selection = list(selection) if selection else None  # pytest args after --: a debugging subset
        self.pytest_extra: list[str] = []  # how a command runs the whole suite (migrate: past collection errors)
        self.install_digest = project.install_digest()  # read once: the named files do not change mid-run
        self._local = None
        self.config_files: list[Path] = []  # tfpin.toml and the matrix files: configuration, not code under test

    @property
    def local(self) -> dict:
        """Digests of the project trees the install lines install (tfpin/local.py), read once per run."""
        if self._local is None:
            from . import local

            # tfpin.toml is configuration, not the code under test: `tfpin init` writes it after it built the env
            config = self.project.root / "tfpin.toml"
            self._local = local.digests(self.project.install, self.project.root, (self.reports, self.envs, config))
        return self._local

    @property
    def reports(self) -> Path:
        return self.layout.reports

    @property
    def envs(self) -> Path:
        return self.layout.envs

    @property
    def deadline(self) -> int:
        """The whole suite's bound; pytest-timeout catches single hung tests long before."""
        return self.project.timeout * 4


class CellInterrupted(procs.Interrupted):
    """An interrupt that carries the interrupted cell's result (status `interrupted`)."""

    def __init__(self, result: CellResult, code: int, name: str):
        super().__init__(code, name, result)


def stamp(cell: Cell, install_digest: dict) -> str:
    """Fingerprint of what the cell installs; a stored result counts only while it matches."""
    data = json.dumps({**cell.definition(), **install_digest}, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def base_result(cell: Cell, ctx: Context) -> CellResult:
    return CellResult.for_cell(cell, stamp(cell, ctx.install_digest), ctx.selection, now(), __version__)


def evidence_path(ctx: Context, kind: str, cell: Cell) -> Path:
    return ctx.layout.evidence(kind, cell.id)


def transient_path(ctx: Context, kind: str, cell: Cell) -> Path:
    return ctx.layout.transient(kind, cell.id)


class PreviousEvidence:
    """A cell's last JUnit, lock, log and result, set aside (not deleted) while its next run goes.

    The new run's evidence replaces them when it finishes, whatever it ends as, so nothing stale
    survives a later error. An interrupted run puts them back (its own log is kept as
    `<cell>.interrupted.log`): Ctrl-C never costs the verdict a finished run had.
    Only called with the cell's env lock held, so a second run waiting for the lock wipes nothing.
    """

    def __init__(self, cell: Cell, ctx: Context):
        self.cell, self.ctx = cell, ctx
        self.moved = []

    def _aside(self, kind: str) -> Path:
        return self.ctx.layout.previous(kind, self.cell.id)

    def set_aside(self) -> None:
        with procs.critical():
            for kind, _ in EVIDENCE:
                aside = self._aside(kind)
                if move_aside(evidence_path(self.ctx, kind, self.cell), aside):
                    self.moved.append(kind)
                else:  # left by a run that was killed outright: it is no one's evidence now
                    remove(aside)
            for kind in TRANSIENT:
                remove(transient_path(self.ctx, kind, self.cell))

    def restore(self) -> None:
        with procs.critical():
            move_aside(evidence_path(self.ctx, "logs", self.cell), self.ctx.layout.interrupted_log(self.cell.id))
            for kind, _ in EVIDENCE:
                path = evidence_path(self.ctx, kind, self.cell)
                remove(path)  # the interrupted run's own partial JUnit, lock or artifacts: evidence of nothing
                if kind in self.moved:
                    os.replace(self._aside(kind), path)

    def discard(self) -> None:
        for kind in self.moved:
            remove(self._aside(kind))
        remove(self.ctx.layout.interrupted_log(self.cell.id))


def host_environ(cell: Cell, ctx: Context) -> dict:
    """What of the host reaches the cell (tfpin/environ.py: the allowlist and the project's `pass_env`)."""
    return environ.suite(Path(ctx.layout.env(cell.id)).resolve() / "bin", ctx.project.pass_env)


def cell_environ(cell: Cell, ctx: Context) -> dict:
    env = host_environ(cell, ctx)
    env["PYTHONPATH"] = os.pathsep.join([str(ctx.project.root), str(PLUGIN_DIR)])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["TFPIN_CELL"] = cell.env_token()
    env["TFPIN_PROGRESS"] = str(transient_path(ctx, "progress", cell))
    env["TFPIN_OUTCOME"] = str(transient_path(ctx, "outcome", cell))
    env["TFPIN_ARTIFACTS"] = str(evidence_path(ctx, "artifacts", cell))  # tfpin_artifact writes here
    env["TFPIN_NOTICES"] = str(transient_path(ctx, "notices", cell))  # the census of deprecation notices
    env["TFPIN_LOADED"] = str(transient_path(ctx, "loaded", cell))  # what pytest read: the verdict cache's key
    if ctx.log_level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = str(ctx.log_level)
    env.update({k: v for k, v in ctx.project.env.items() if k != "PYTHONPATH"})
    if ctx.project.env.get("PYTHONPATH"):  # in front of the root and tfpin's plugins, relative to the root
        own = [str(ctx.project.root / p) for p in ctx.project.env["PYTHONPATH"].split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(own + [env["PYTHONPATH"]])
    return env


def prepare(cell: Cell, ctx: Context, result: CellResult, log) -> CellEnv | None:
    """Build or reuse the env; fill setup time, lock file and resolved versions. None if unusable."""
    env = CellEnv(cell, ctx.envs, ctx.project.root, ctx.install_digest, ctx.local)
    start = time.monotonic()
    try:
        info = env.ensure(log)
        freeze = env.freeze()
    except MissingInterpreter as exc:
        result.fail(MISSING, "%s: %s" % (cell.id, exc))
        return None
    except Unavailable as exc:
        result.fail(UNAVAILABLE, "%s: %s" % (cell.id, exc))
        return None
    except InstallError as exc:
        result.fail(ERROR, "%s: environment: %s" % (cell.id, exc))
        return None
    finally:
        result.durations.setup_s = round(time.monotonic() - start, 2)
        result.durations.steps = dict(env.steps)
    result.env = {"installer": info["installer"], "reused": info["reused"], "path": str(env.path)}
    if info["rebuilt_because"]:
        result.env["rebuilt_because"] = info["rebuilt_because"]
    if info.get("reinstalled"):
        result.env["reinstalled"] = info["reinstalled"]
    lock = evidence_path(ctx, "locks", cell)
    write_atomic(lock, freeze)
    result.lock = rel(lock, ctx)
    env.resolved = parse_freeze(freeze)
    result.resolved = {k: env.resolved[k] for k in cell.recorded if k in env.resolved}
    return env


def import_check(cell: Cell, ctx: Context, env: CellEnv) -> dict:
    """The pinned packages' import check as a process of its own (cellplugin/tfpin_imports.py as a script): only
    for a suite whose pytest ended before its collection was done, where the in-suite check never ran."""
    names = [name for name, _ in cell.requirements]
    code, out = procs.run([env.python, PLUGIN_DIR / "tfpin_imports.py", *names], cwd=ctx.project.root,
                          env=cell_environ(cell, ctx), timeout=600)
    data = procs.last_json(out)
    if data is None or "failures" not in data:
        data = {"modules": {}, "failures": [{"dist": ", ".join(names), "module": "?", "error": "the import check "
                                             "exited %s: %s" % (code, procs.tail(out) or "no output")}]}
    return data


def pinned_modules(cell: Cell, ctx: Context, data: dict, result: CellResult, log) -> list[str] | None:
    """The top-level modules the pinned packages gave, or None (the cell failed) if one does not import. Without
    this a suite that importorskips TensorFlow passes where TensorFlow cannot load."""
    modules = [m for found in data["modules"].values() for m in found]
    failures = data["failures"]
    log("== pinned packages import: %s" % ("; ".join("%s (%s): %s" % (f["dist"], f["module"], f["error"])
                                                     for f in failures) or ", ".join(modules)))
    if not failures:
        return modules
    first = failures[0]
    version = dict(cell.requirements).get(first["dist"], "")
    result.fail(FAILED, "%s: pinned package %s%s does not import in this cell (module %s): %s; no test was "
                "run: its tests could only fail or be skipped on that import (log: %s)" % (
                    cell.id, first["dist"], "==" + version if version else "", first["module"], first["error"],
                    rel(evidence_path(ctx, "logs", cell), ctx)))
    return None


def run_cell(cell: Cell, ctx: Context, announce=lambda text: None, on_tests=lambda: None) -> CellResult:
    """`on_tests()` is called when the set-up is done and the suite is about to start (the scheduler gives the
    cell the cores its tests need then)."""
    result = base_result(cell, ctx)
    phase = ["waiting for its environment"]
    try:
        with EnvLock(ctx.layout.env(cell.id), announce), load.Meter() as meter:
            previous = PreviousEvidence(cell, ctx)
            previous.set_aside()
            procs.metering(meter)
            try:
                _run_locked(cell, ctx, result, phase, meter, on_tests)
            except BaseException:  # an interrupt (or a harness bug): the earlier verdict stands
                previous.restore()
                raise
            finally:
                procs.metering(None)
            previous.discard()
    except (KeyboardInterrupt, procs.Interrupted) as exc:
        code, name = (exc.code, exc.name) if isinstance(exc, procs.Interrupted) else (130, "SIGINT")
        result.fail(INTERRUPTED, "%s: interrupted by %s while %s" % (cell.id, name, phase[0]))
        result.finished = now()
        raise CellInterrupted(result, code, name) from None
    return result


def _run_locked(cell: Cell, ctx: Context, result: CellResult, phase: list, meter, on_tests) -> None:
    log_path = evidence_path(ctx, "logs", cell)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log_file:
        def log(text):
            log_file.write(text.rstrip("\n") + "\n")
            log_file.flush()

        d = result.durations
        try:
            phase[0] = "building its environment"
            setup = meter.phase()
            env = prepare(cell, ctx, result, log)
            figures = setup.end().figures()
            d.setup_cpu_s, d.setup_demand = figures["cpu_s"], figures["demand"]
            if env is not None:
                phase[0] = "running its tests"
                on_tests()
                d.tests_started_at = round(time.time(), 2)
                tests = meter.phase()
                run_suite(cell, ctx, env, result, log_file, log)
                figures = tests.end().figures()
                d.tests_cpu_s, d.tests_demand = figures["cpu_s"], figures["demand"]
        except (KeyboardInterrupt, procs.Interrupted) as exc:
            log("== %s: interrupted by %s while %s" % (cell.id, getattr(exc, "name", "SIGINT"), phase[0]))
            raise
        if result.status in (MISSING, UNAVAILABLE, ERROR, FAILED) and not result.durations.tests_s:
            log("== %s: %s" % (result.status, result.reason))
    result.log = rel(log_path, ctx)
    result.finished = now()


def run_suite(cell: Cell, ctx: Context, env: CellEnv, result: CellResult, log_file, log) -> None:
    """pytest over the project's tests, with the pinned packages' import check inside it (tfpin_imports)."""
    junit_path = evidence_path(ctx, "junit", cell)
    progress, outcome_path = transient_path(ctx, "progress", cell), transient_path(ctx, "outcome", cell)
    junit_path.parent.mkdir(parents=True, exist_ok=True)
    progress.parent.mkdir(parents=True, exist_ok=True)
    cmd = pytest_command(env.python, ctx.project.test, junit_path, "-p", "tfpin_imports", "-rs",
                         "-o", "junit_suite_name=" + cell.id)
    if "pytest-timeout" in env.resolved:
        cmd += ["--timeout", str(ctx.project.timeout)]
    cmd += ctx.pytest_extra + (ctx.selection or [])
    log("$ " + " ".join(cmd))
    log_start = log_file.tell()
    start = time.monotonic()
    imports_path = transient_path(ctx, "imports", cell)
    suite_env = dict(cell_environ(cell, ctx), TFPIN_IMPORTS=str(imports_path),
                     TFPIN_PINNED=" ".join(name for name, _ in cell.requirements))
    exit_code, _ = procs.run(cmd, cwd=ctx.project.root, env=suite_env, stdout=log_file,
                             timeout=ctx.deadline, stop_codes=(2,))
    result.durations.tests_s = round(time.monotonic() - start, 2)
    imports = _read_json(imports_path)
    if imports is None or not isinstance(imports.get("failures"), list) or not isinstance(imports.get("modules"),
                                                                                         dict):
        imports = import_check(cell, ctx, env)  # pytest ended before its collection was done
    modules = pinned_modules(cell, ctx, imports, result, log)
    if modules is None:
        for kind in TRANSIENT:
            remove(transient_path(ctx, kind, cell))
        return
    running = (_read_json(progress) or {}).get("test", "")
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
        result.tests = Counts(**{k: tests[k] for k in ("passed", "failed", "skipped", "errors")})
        result.failing = tests["failing"]
        result.skips = tests["skip_reasons"]
        result.notes = tests["notes"]
        result.junit = rel(junit_path, ctx)
    artifacts = evidence_path(ctx, "artifacts", cell)
    if artifacts.is_dir():
        result.artifacts = sorted(p.name for p in artifacts.iterdir() if p.is_dir())
    notices = _read_json(transient_path(ctx, "notices", cell), list)
    if notices is not None:
        result.deprecations = notices
    result.passed_env = environ.passed(host_environ(cell, ctx))
    result.loaded = loaded_of(_read_json(transient_path(ctx, "loaded", cell)), ctx.project.root)
    outcome = _read_json(outcome_path)
    if outcome is not None:
        result.completeness = {k: outcome.get(k) for k in ("collected", "with_outcome", "exitstatus")}
    usage = _usage_error(log_file.name, log_start) if exit_code == 4 else ""
    status, reason = classify(tests, exit_code, crash, outcome, usage, modules,
                              expect_outcome=exit_code is not None and exit_code >= 0)
    result.status = status
    result.reason = "%s: %s (log: %s)" % (cell.id, reason, rel(evidence_path(ctx, "logs", cell), ctx)) \
        if reason else ""
    for kind in TRANSIENT:
        remove(transient_path(ctx, kind, cell))


def loaded_of(data, root: Path) -> dict | None:
    """What the run read (cellplugin/tfpin_loaded.py), its paths relative to the project root (`..` above it)."""
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return None
    root = os.path.realpath(root)

    def relative(path):
        return os.path.relpath(path, root) if isinstance(path, str) else None

    return {"rootdir": relative(data.get("rootdir")), "inifile": relative(data.get("inifile")),
            "files": {relative(k): v for k, v in sorted(data["files"].items()) if isinstance(v, str)}}


def _read_json(path: Path, kind=dict):
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, kind) else None


def _usage_error(log_name: str, offset: int) -> str:
    """pytest's own words when it refused its arguments (the lines it printed after the command)."""
    try:
        with open(log_name, encoding="utf-8", errors="replace") as f:
            f.seek(offset)
            lines = [ln.strip() for ln in f.read().splitlines()]
    except OSError:
        return ""
    said = [ln for ln in lines if PYTEST_USAGE_LINE.match(ln)]
    return " | ".join(said[-3:])[:400]


def pytest_command(python, args, junit_path: Path, *extra) -> list[str]:
    """pytest as tfpin runs it in a cell env: no cache, the progress plugin, JUnit (xunit1) to `junit_path`."""
    return [str(python), "-m", "pytest", *args, *PYTEST_PLUGINS, "-q", "--junitxml", str(junit_path),
            "-o", "junit_family=xunit1", *extra]


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


def rel(path: Path, ctx: Context | None = None) -> str:
    base = ctx.project.root if ctx is not None else Path.cwd()
    try:
        return str(Path(path).resolve().relative_to(Path(base).resolve()))
    except ValueError:
        return str(path)
