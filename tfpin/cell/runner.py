"""Run one cell end to end: fresh evidence, environment, the project's suite, result record.

Nothing here raises for a cell-level problem: every outcome becomes a result with a
status and a reason naming the cell, so one broken cell never costs the others. The one
exception is an interrupt (Ctrl-C, SIGTERM): the running cell is recorded as
`interrupted` and the interrupt goes on up, so the run stops.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tfpin import __version__, environ, load, procs
from tfpin.cell import covdata
from tfpin.cell.envs import CellEnv, EnvLock, InstallError, MissingInterpreter, Unavailable
from tfpin.cell.incell import (
    cell_environ,
    host_environ,
    import_check,
    loaded_of,
    pytest_command,
    read_junit,
    usage_error,
)
from tfpin.cell.installer import parse_freeze
from tfpin.cell.result import CellResult, Counts
from tfpin.cell.retries import retry_failures
from tfpin.cell.status import ERROR, FAILED, INTERRUPTED, MISSING, UNAVAILABLE, classify
from tfpin.cellplugin import tfpin_vars as var
from tfpin.config.cells import Cell
from tfpin.config.context import Context, now, rel
from tfpin.config.layout import EVIDENCE, TRANSIENT
from tfpin.events import Say
from tfpin.files import move_aside, read_json, remove, short_digest, write_atomic


class CellInterrupted(procs.Interrupted):
    """An interrupt that carries the interrupted cell's result (status `interrupted`)."""

    def __init__(self, result: CellResult, code: int, name: str):
        super().__init__(code, name, result)


def stamp(cell: Cell, install_digest: dict) -> str:
    """Fingerprint of what the cell installs; a stored result counts only while it matches."""
    return short_digest({**cell.definition(), **install_digest})


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
        self.moved: list[str] = []

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


def prepare(cell: Cell, ctx: Context, result: CellResult, log) -> CellEnv | None:
    """Build or reuse the env; fill setup time, lock file and resolved versions. None if unusable."""
    env = CellEnv(cell, ctx.envs, ctx.project.root, ctx.install_digest, ctx.local)
    start = time.monotonic()
    try:
        info = env.ensure(log)
        freeze = env.freeze()
        if ctx.coverage:
            with env.timed("coverage"):
                result.coverage = {"tool": "coverage " + covdata.ensure_tool(env, log)}
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


def run_cell(cell: Cell, ctx: Context, say: Say = lambda text: None, on_tests=lambda: None) -> CellResult:
    """`say` gets what is worth a line while the cell waits (another run holds its env); `on_tests()` is called when
    the set-up is done and the suite is about to start (the scheduler gives the cell the cores its tests need then)."""
    return _CellRun(cell, ctx, say, on_tests).run()


class _CellRun:
    """One cell's run, and the phase it is in (what an interrupt says it stopped)."""

    def __init__(self, cell: Cell, ctx: Context, say: Say, on_tests):
        self.cell, self.ctx, self.say, self.on_tests = cell, ctx, say, on_tests
        self.result = base_result(cell, ctx)
        self.phase = "waiting for its environment"

    def run(self) -> CellResult:
        cell, result = self.cell, self.result
        try:
            with EnvLock(self.ctx.layout.env(cell.id), self.say), load.Meter() as meter:
                previous = PreviousEvidence(cell, self.ctx)
                previous.set_aside()
                try:
                    self._locked(meter)
                except BaseException:  # an interrupt (or a harness bug): the earlier verdict stands
                    previous.restore()
                    raise
                previous.discard()
        except procs.Cancelled:  # called off (--fail-fast=now): the earlier verdict stands, the caller says why
            raise
        except (KeyboardInterrupt, procs.Interrupted) as exc:
            code, name = (exc.code, exc.name) if isinstance(exc, procs.Interrupted) else (130, "SIGINT")
            result.fail(INTERRUPTED, "%s: interrupted by %s while %s" % (cell.id, name, self.phase))
            result.finished = now()
            raise CellInterrupted(result, code, name) from None
        return result

    def _locked(self, meter) -> None:
        cell, ctx, result = self.cell, self.ctx, self.result
        log_path = evidence_path(ctx, "logs", cell)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w", encoding="utf-8") as log_file:
            def log(text):
                log_file.write(text.rstrip("\n") + "\n")
                log_file.flush()

            d = result.durations
            try:
                self.phase = "building its environment"
                setup = meter.phase()
                env = prepare(cell, ctx, result, log)
                figures = setup.end().figures()
                d.setup_cpu_s, d.setup_demand = figures["cpu_s"], figures["demand"]
                if env is not None:
                    self.phase = "running its tests"
                    self.on_tests()
                    d.tests_started_at = round(time.time(), 2)
                    tests = meter.phase()
                    run_suite(cell, ctx, env, result, log_file, log)
                    figures = tests.end().figures()
                    d.tests_cpu_s, d.tests_demand = figures["cpu_s"], figures["demand"]
            except (KeyboardInterrupt, procs.Interrupted) as exc:
                log("== %s: interrupted by %s while %s" % (cell.id, getattr(exc, "name", "SIGINT"), self.phase))
                raise
            if result.status in (MISSING, UNAVAILABLE, ERROR, FAILED) and not result.durations.tests_s:
                log("== %s: %s" % (result.status, result.reason))
        result.log = rel(log_path, ctx)
        result.finished = now()


def run_suite(cell: Cell, ctx: Context, env: CellEnv, result: CellResult, log_file, log) -> None:
    """pytest over the project's tests, with the pinned packages' import check inside it (tfpin_imports)."""
    junit_path = evidence_path(ctx, "junit", cell)
    progress = transient_path(ctx, "progress", cell)
    junit_path.parent.mkdir(parents=True, exist_ok=True)
    progress.parent.mkdir(parents=True, exist_ok=True)
    cmd = pytest_command(env.python, ctx.project.test, junit_path, "-p", "tfpin_imports", "-rs",
                         "-o", "junit_suite_name=" + cell.id)
    per_test = ["--timeout", str(ctx.project.timeout)] if "pytest-timeout" in env.resolved else []
    cmd += per_test + ctx.pytest_extra + (ctx.selection or [])
    log("$ " + " ".join(cmd))
    log_start = log_file.tell()
    start = time.monotonic()
    imports_path = transient_path(ctx, "imports", cell)
    suite_env = dict(cell_environ(cell, ctx))
    suite_env[var.IMPORTS], suite_env[var.PINNED] = str(imports_path), " ".join(n for n, _ in cell.requirements)
    raw = transient_path(ctx, "coverage", cell)
    if ctx.coverage:
        suite_env = covdata.suite_environ(suite_env, env, ctx, raw)
    exit_code, _ = procs.run(cmd, cwd=ctx.project.root, env=suite_env, stdout=log_file,
                             timeout=ctx.deadline, stop_codes=(2,))
    result.durations.tests_s = round(time.monotonic() - start, 2)
    if ctx.coverage and result.coverage:  # before anything can end the suite's record: what ran is evidence too
        result.coverage = covdata.collect(ctx, cell.id, raw, result.coverage["tool"].split()[-1])
    imports = read_json(imports_path)
    if imports is None or not isinstance(imports.get("failures"), list) or not isinstance(imports.get("modules"),
                                                                                         dict):
        imports = import_check(cell, ctx, env.python)  # pytest ended before its collection was done
    modules = pinned_modules(cell, ctx, imports, result, log)
    if modules is None:
        for kind in TRANSIENT:
            remove(transient_path(ctx, kind, cell))
        return
    running = (read_json(progress) or {}).get("test", "")
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
    outcome = _plugin_records(cell, ctx, result)  # before any retry: its processes write the same records
    if tests and ctx.retries and exit_code == 1 and not crash and tests["failed"]:
        tests, result.retries = retry_failures(cell, ctx, env.python, tests, log, per_test)
        if not tests["failed"] and not tests["errors"]:
            exit_code = 0  # pytest's 1 was those failures, and every one of them passed when run again
    if tests:
        flaky = sum(1 for r in result.retries or [] if r["flaky"])
        result.tests = Counts(**{k: tests[k] for k in ("passed", "failed", "skipped", "errors")}, flaky=flaky)
        result.failing = tests["failing"]
        result.skips = tests["skip_reasons"]
        result.notes = tests["notes"]
        result.junit = rel(junit_path, ctx)
    usage = usage_error(log_file.name, log_start) if exit_code == 4 else ""
    status, reason = classify(tests, exit_code, crash, outcome, usage, modules,
                              expect_outcome=exit_code is not None and exit_code >= 0)
    result.status = status
    result.reason = "%s: %s (log: %s)" % (cell.id, reason, rel(evidence_path(ctx, "logs", cell), ctx)) \
        if reason else ""
    for kind in TRANSIENT:
        remove(transient_path(ctx, kind, cell))


def _plugin_records(cell: Cell, ctx: Context, result: CellResult) -> dict | None:
    """What the in-cell plugins recorded of the suite, into the result: the artifacts it wrote, its deprecation
    notices, what it read (the verdict cache's key), what of the host reached it; returns the session's outcome."""
    artifacts = evidence_path(ctx, "artifacts", cell)
    if artifacts.is_dir():
        result.artifacts = sorted(p.name for p in artifacts.iterdir() if p.is_dir())
    notices = read_json(transient_path(ctx, "notices", cell), list)
    if notices is not None:
        result.deprecations = notices
    result.passed_env = environ.passed(host_environ(cell, ctx))
    result.loaded = loaded_of(read_json(transient_path(ctx, "loaded", cell)), ctx.project.root)
    outcome = read_json(transient_path(ctx, "outcome", cell))
    if outcome is not None:
        result.completeness = {k: outcome.get(k) for k in ("collected", "with_outcome", "exitstatus")}
    return outcome


