"""`tfpin matrix` as named steps, top to bottom; each step is a function here or in the module that owns it.

    1. load      inputs.load            project, matrix, selected cells, Context; bad input exits 2 here
    2. schedule  schedule.run           the cells, as many at once as the cores feed (schedule.Budget), with the
                                        interrupt rules
    3. per cell  cache.Verdicts.lookup  re-use the stored verdict when its key is unchanged ...
                 runner.run_cell        ... else run it: env (envs), imports, suite (pytest), classify (status)
                 Verdicts.seal          the key the new result can be re-used under; results/cells/<id>.json
                 journal.update         the report, rewritten after every cell (beside a complete one until done)
    4. cross     cross.run              verdicts between the passed cells
    5. report    journal.final          matrix.json, .md, .html with the cross verdicts; the console's summary
    6. exit      status.exit_code       0 / 1 / 3, or 130 / 143 for a signal

Every step says what it does as typed events (tfpin/events.py) to the reporter the command line gave it.
"""
from __future__ import annotations

import json
import threading
import time

from tfpin import environ, events, load, procs, schedule
from tfpin.cell import cache, installer
from tfpin.cell.incell import cell_environ
from tfpin.cell.result import CellResult
from tfpin.cell.runner import base_result, run_cell
from tfpin.cell.status import NOT_RUN, exit_code, exit_reason, fails
from tfpin.config import inputs
from tfpin.config.context import now
from tfpin.cross import run as cross
from tfpin.files import write_atomic
from tfpin.options import MatrixOptions, Running
from tfpin.pins import floors
from tfpin.pins.floors import broken as broken_floors
from tfpin.report import live
from tfpin.report.journal import Journal


def matrix(opts: MatrixOptions, reporter: events.Reporter) -> int:
    project, m, cells, ctx = inputs.load(opts.selection)
    check_jobs(opts.running.jobs)
    if opts.floors and installer.find_uv() is None:
        raise inputs.UsageError("--floors resolves the install lines at their lowest releases with uv (`uv pip compile "
                                "--resolution lowest-direct`), and no uv is installed: `pip install uv` next to tfpin")
    reporter.emit(events.Info("project %s, matrix %r (%s), %d cells%s" % (
        project.root, m.name, m.path, len(cells), ", pytest args: " + " ".join(ctx.selection)
        if ctx.selection else "")))
    t0 = time.monotonic()
    skip_missing = opts.selection.skip_missing_interpreters
    results, interrupted, journal = run_cells(m, cells, ctx, reporter, running=opts.running, write_report=True,
                                              partial=opts.selection.partial, then_cross=True,
                                              skip_missing=skip_missing)
    reporter.emit(events.StepFinished("cells", time.monotonic() - t0,
                                      "%d cells in %.1fs" % (len(results), time.monotonic() - t0)))
    if interrupted is not None:
        return finish(results, interrupted, reporter, skip_missing=skip_missing)
    if any(r.status == NOT_RUN for r in results):  # --fail-fast stopped the run: nothing between cells either
        journal.final({"skipped": "the run stopped at its first failure (--fail-fast)"})
        return finish(results, None, reporter, skip_missing=skip_missing)
    floor_results, step = None, "the cross-cell checks"
    try:
        verdicts = cross_step(cells, results, ctx, reporter, use_cache=opts.running.use_cache, jobs=opts.running.jobs)
        if opts.floors:
            step = "the floors of the install lines"
            floor_results = floors_step(cells, results, ctx, reporter)
    except procs.Interrupted as exc:
        journal.interrupted()  # the run's report stays where unfinished reports go, marked so
        reporter.emit(events.Totals(tuple(results)))
        kept = "" if journal.writing_to == journal.report_as else "; the complete report of an earlier run is untouched"
        reporter.emit(events.Problem("interrupted by %s during %s; every cell's result is in %s.*, marked "
                                     "interrupted, without cross-cell verdicts%s"
                                     % (exc.name, step, journal.writing_to, kept)))
        return exc.code
    journal.final(verdicts, floors=floor_results)
    code = finish(results, None, reporter, skip_missing=skip_missing)
    for error in verdicts.get("errors", []):
        reporter.emit(events.Problem("cross-cell step failed: %s" % error))
    false_floors = broken_floors(floor_results or [])
    for line in false_floors:
        reporter.emit(events.Problem("floor does not hold: %s" % line))
    return code or (1 if verdicts.get("errors") or false_floors else 0)


def floors_step(cells, results, ctx, reporter: events.Reporter) -> list[dict]:
    """--floors: the lowest releases the project's install lines allow, run in every passed cell (pins/floors.py)."""
    t0 = time.monotonic()
    found = floors.run(cells, results, ctx, reporter)
    seconds = time.monotonic() - t0
    reporter.emit(events.StepFinished("floors", seconds, "floors in %.1fs" % seconds))
    return found


def check_jobs(jobs: int | None) -> None:
    if jobs is not None and jobs < 1:
        raise inputs.UsageError("--jobs must be 1 or more (got %d)" % jobs)


def cross_step(cells, results, ctx, reporter: events.Reporter, *, use_cache: bool, jobs: int | None = None) -> dict:
    """The readers of every passed cell, one per core at a time (each is one pytest process), or `-j N`."""
    t1 = time.monotonic()
    verdicts = cross.run(cells, results, ctx, log=lambda line: reporter.emit(events.Info(line)),
                         use_cache=use_cache, jobs=jobs or environ.cpus())
    seconds = time.monotonic() - t1
    reporter.emit(events.StepFinished("cross", seconds, "cross-cell checks in %.1fs%s" % (
        seconds, ": skipped, " + verdicts["skipped"] if "skipped" in verdicts else "")))
    return verdicts


def default_jobs_text() -> str:
    return "as many as the cores feed, from each cell's last run (%d cores here)" % environ.cpus()


def run_cells(m, cells, ctx, reporter: events.Reporter, *, running: Running, write_report: bool,
              partial: bool = False, then_cross: bool = False, skip_missing: bool = False):
    """Run cells under one budget (running.jobs: -j, None for by demand); (results in matrix order, interrupt exit
    code or None, the final report written or None; with `then_cross`, the Journal the cross step completes).

    A cell whose verdict cache key (tfpin/cell/cache.py) is unchanged re-uses its stored result, marked as
    such. The journal (tfpin/report/journal.py) rewrites the report after each cell, beside a complete one of an
    earlier run until this run finished.
    """
    ctx.retries = running.retries
    ctx.coverage = running.coverage
    journal = Journal(m, cells, ctx, partial, reporter) if write_report else None
    if journal is not None:  # the report is written from the same events the console shows
        reporter = events.Fanout(reporter, journal)
    verdicts = cache.Verdicts(ctx, cells, use=running.use_cache)
    for name in environ.ignored(installer.backend(), ctx.project.root):
        reporter.emit(events.Problem("ignoring host %s: a cell installs exactly its definition (put pins into the "
                                     "matrix or the project's constraints)" % name))
    budget = _budget(running.jobs, verdicts, ctx.project.cores, len(cells), reporter)
    demands = budget.demands
    stop = _FailFast(running.fail_fast, skip_missing, reporter)

    def one(i, cell):
        log = None
        with budget.hold(i, cell.id, "setup") as held:
            result = stop.before(i, cell, ctx)
            if result is None:
                try:
                    found = verdicts.lookup(cell, cell_environ(cell, ctx))
                    if found.hit is None:
                        unit = _CellUnit(i, len(cells), cell, ctx, reporter, watcher)
                        result = unit.run_and_seal(found, verdicts,
                                                   on_tests=lambda: budget.resize(held, cell.id, "tests"))
                        demands.learned("setup", result.durations.setup_demand)
                        demands.learned("tests", result.durations.tests_demand)
                        log = ctx.layout.evidence("logs", cell.id)
                    else:
                        result = found.hit
                except procs.Cancelled:
                    result = stop.stopped(cell, ctx)
                finally:
                    stop.after(i, result)
        reporter.emit(events.CellFinished(i + 1, len(cells), cell.id, result=result, log=log,
                                          root=ctx.project.root))
        return result

    reporter.emit(events.CellsStarting(len(cells)))
    try:
        with live.Watcher(reporter, stream_logs=running.view == "verbose") as watcher:
            finished, signal = schedule.run(one, cells, len(cells))  # a thread per cell: the budget decides who runs
    finally:
        procs.uncancel_all()
        reporter.emit(events.CellsDone())
    results = [finished[k] for k in sorted(finished)]
    interrupted = signal.code if signal is not None else None
    if journal is None:
        return results, interrupted, None
    journal.results = results
    if then_cross and signal is None:
        return results, interrupted, journal
    return results, interrupted, journal.final(None, interrupted=signal is not None)


def _budget(jobs: int | None, verdicts: cache.Verdicts, project_cores: float, count: int,
            reporter: events.Reporter) -> schedule.Budget:
    """How many cells run at once. `-j N`: N cells, each holding one of N slots from start to end. By default the
    cores are a budget, and each phase of a cell holds the cores it kept busy in its last run (load.Demands)."""
    demands = load.Demands(verdicts.demands() if jobs is None else {}, environ.cpus(), project_cores)
    budget = schedule.Budget(jobs, demands, environ.cpus())
    if count > 1:
        reporter.emit(events.Info("cells run %s" % budget.describe("", "each cell's last run; one per core where "
                                                                       "unknown")))
    return budget


class _FailFast:
    """--fail-fast: once a cell fails, no other starts (`finish`: those running finish; `now`: they are called off,
    their earlier verdicts kept); the cells that did not run are `not-run`."""

    def __init__(self, mode: str | None, skip_missing: bool, reporter: events.Reporter):
        self.mode, self.skip_missing, self.reporter = mode, skip_missing, reporter
        self.first: str | None = None  # the cell that failed first
        self.running: dict[int, int] = {}  # unit index -> the id of the thread running it
        self.lock = threading.Lock()

    def before(self, i: int, cell, ctx) -> CellResult | None:
        """A not-run result when the run already stopped, else None (the cell may start)."""
        with self.lock:
            if self.first is None:
                self.running[i] = threading.get_ident()
                return None
        return _not_run(cell, ctx, "not run: --fail-fast stopped the run after %s failed" % self.first)

    def stopped(self, cell, ctx) -> CellResult:
        return _not_run(cell, ctx, "stopped by --fail-fast=now after %s failed (its earlier verdict is kept)"
                        % self.first)

    def after(self, i: int, result: CellResult | None) -> None:
        with self.lock:
            self.running.pop(i, None)
            if not self.mode or result is None or self.first is not None or not fails(result.status or "",
                                                                                        self.skip_missing):
                return
            self.first = result.id
            others = list(self.running.values())
        self.reporter.emit(events.Info("--fail-fast: %s %s; no other cell starts%s" % (
            result.id, result.status, ", the running ones are stopped" if self.mode == "now" and others else "")))
        if self.mode == "now" and others:
            procs.cancel(others, "--fail-fast=now")


def _not_run(cell, ctx, reason: str) -> CellResult:
    result = base_result(cell, ctx)
    result.fail(NOT_RUN, "%s: %s" % (cell.id, reason))
    result.finished = now()
    return result


class _CellUnit:
    """Step 3b-3c for a cell the cache could not answer: run it (runner.run_cell, watched by the live view),
    record the sources it tested, seal the key it may be re-used under, store it as reports/cells/<id>.json."""

    def __init__(self, i: int, total: int, cell, ctx, reporter: events.Reporter, watcher: live.Watcher):
        self.i, self.total, self.cell, self.ctx = i, total, cell, ctx
        self.reporter, self.watcher = reporter, watcher

    def say(self, text: str) -> None:
        self.reporter.emit(events.CellNote(self.i + 1, self.total, self.cell.id, text))

    def run_and_seal(self, found: cache.Lookup, verdicts: cache.Verdicts, on_tests) -> CellResult:
        cell, ctx, layout, why = self.cell, self.ctx, self.ctx.layout, found.why
        progress, log = layout.transient("progress", cell.id), layout.evidence("logs", cell.id)
        sources = verdicts.sources
        self.reporter.emit(events.CellStarted(self.i + 1, self.total, cell.id, "started" + (
            " (%s)" % why if why and why != "no stored result" else ""), progress=progress, log=log,
            expected_s=found.expected_s))
        self.watcher.watch(cell.id, progress, log)
        try:
            result = run_cell(cell, ctx, self.say, on_tests)
        except procs.Interrupted as exc:
            if exc.result is not None:
                exc.result.harness["sources"] = sources
                self.watcher.unwatch(cell.id)
                self.reporter.emit(events.CellFinished(self.i + 1, self.total, cell.id, result=exc.result))
            raise
        finally:
            self.watcher.unwatch(cell.id)
        result.harness["sources"] = sources
        verdicts.seal(result, found.inputs)
        write_atomic(layout.result(cell.id), json.dumps(result.to_json(), indent=2) + "\n")
        return result


def finish(results, interrupted, reporter: events.Reporter, *, skip_missing: bool) -> int:
    """The totals, then the exit code by status.py's rules (or the interrupt's)."""
    reporter.emit(events.Totals(tuple(results)))
    if interrupted is not None:
        reporter.emit(events.Problem("interrupted: finished cells are kept in the report; no recommendation from an "
                                     "interrupted run"))
        return interrupted
    code = exit_code(results, skip_missing)
    if code:
        reporter.emit(events.Problem(exit_reason(results, skip_missing)))
    return code
