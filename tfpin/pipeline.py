"""`tfpin matrix` as named steps, top to bottom; each step is a function here or in the module that owns it.

    1. load      inputs.load            project, matrix, selected cells, Context; bad input exits 2 here
    2. schedule  schedule.run           the cells, as many at once as the cores feed (schedule.Budget), with the
                                        interrupt rules
    3. per cell  cache.Verdicts.lookup  re-use the stored verdict when its key is unchanged ...
                 runner.run_cell        ... else run it: env (envs), imports, suite (pytest), classify (status)
                 Verdicts.seal          the key the new result can be re-used under; results/cells/<id>.json
                 report.write           the report, rewritten after every cell (beside a complete one until done)
    4. cross     cross.run              verdicts between the passed cells
    5. report    report.write           matrix.json, .md, .html with the cross verdicts
    6. exit      status.exit_code       0 / 1 / 3, or 130 / 143 for a signal

Every step says what it does as typed events (tfpin/events.py) to the reporter the command line gave it.
"""
from __future__ import annotations

import json
import threading
import time

from . import __version__, cache, cross, environ, events, inputs, installer, live, load, procs, report, schedule
from .context import now, rel
from .files import write_atomic
from .incell import cell_environ
from .options import MatrixOptions, Running
from .result import CellResult
from .runner import run_cell, stamp
from .status import exit_code, exit_reason


def matrix(opts: MatrixOptions, reporter: events.Reporter) -> int:
    project, m, cells, ctx = inputs.load(opts.selection)
    check_jobs(opts.running.jobs)
    reporter.emit(events.Info("project %s, matrix %r (%s), %d cells%s" % (
        project.root, m.name, m.path, len(cells), ", pytest args: " + " ".join(ctx.selection)
        if ctx.selection else "")))
    t0 = time.monotonic()
    results, interrupted, pending = run_cells(m, cells, ctx, reporter, running=opts.running, write_report=True,
                                              partial=opts.selection.partial, then_cross=True)
    reporter.emit(events.StepFinished("cells", time.monotonic() - t0,
                                      "%d cells in %.1fs" % (len(results), time.monotonic() - t0)))
    skip_missing = opts.selection.skip_missing_interpreters
    if interrupted is not None:
        return finish(results, interrupted, reporter, skip_missing=skip_missing)
    try:
        verdicts = cross_step(cells, results, ctx, reporter, use_cache=opts.running.use_cache, jobs=opts.running.jobs)
    except procs.Interrupted as exc:
        pending.interrupted()  # the run's report stays where unfinished reports go, marked so
        reporter.emit(events.Totals(tuple(results)))
        kept = "" if pending.writing_to == pending.report_as else "; the complete report of an earlier run is untouched"
        reporter.emit(events.Problem("interrupted by %s during the cross-cell checks; every cell's result is in %s.*, "
                                     "marked interrupted, without cross-cell verdicts%s"
                                     % (exc.name, pending.writing_to, kept)))
        return exc.code
    pending.final(verdicts)
    code = finish(results, None, reporter, skip_missing=skip_missing)
    for error in verdicts.get("errors", []):
        reporter.emit(events.Problem("cross-cell step failed: %s" % error))
    return code or (1 if verdicts.get("errors") else 0)


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


def cell_budget(jobs: int | None, previous: dict, project_cores: float) -> schedule.Budget:
    """How many cells run at once. `-j N`: N cells, each holding one of N slots from start to end. By default:
    the cores are a budget and each phase of a cell holds the cores it kept busy in its last run (`previous`:
    set-up, then tests: load.Demands), so a one-process suite runs a cell per core, a suite that feeds two cores
    runs alone, and cell N+1's env is built during cell N's tests when both fit."""
    demands = load.Demands(previous if jobs is None else {}, environ.cpus(), project_cores)
    return schedule.Budget(jobs, demands, environ.cpus())


def default_jobs_text() -> str:
    return "as many as the cores feed, from each cell's last run (%d cores here)" % environ.cpus()


def run_cells(m, cells, ctx, reporter: events.Reporter, *, running: Running, write_report: bool,
              partial: bool = False, then_cross: bool = False):
    """Run cells under one budget (running.jobs: -j, None for by demand); (results in matrix order, interrupt exit
    code or None, the final report written or None; with `then_cross`, a Pending report the cross step completes).

    A cell whose verdict cache key (tfpin/cache.py) is unchanged re-uses its stored result, marked as
    such. Reports are rewritten after each cell, so an interrupted run keeps every finished one; while
    a complete report of an earlier run exists, this run's unfinished report goes beside it
    (`<name>-incomplete.*`) and replaces it only once this run finished.
    """
    started, done = now(), {}
    report_as = m.report_name(partial) if write_report else None
    writing_to = report.in_progress_name(ctx.reports, report_as) if report_as else None
    writing = threading.Lock()
    verdicts = cache.Verdicts(ctx, cells, use=running.use_cache)
    for name in environ.ignored(installer.backend(), ctx.project.root):
        reporter.emit(events.Problem("ignoring host %s: a cell installs exactly its definition (put pins into the "
                                     "matrix or the project's constraints)" % name))
    budget = cell_budget(running.jobs, verdicts.demands(), ctx.project.cores)
    if len(cells) > 1:
        reporter.emit(events.Info("cells run %s" % budget.describe("", "each cell's last run; one per core where "
                                                                       "unknown")))

    def one(i, cell):
        with budget.hold(i, cell.id, "setup") as held:
            inputs, hit, why = verdicts.lookup(cell, cell_environ(cell, ctx))
            log = None
            if hit is None:
                unit = _CellUnit(i, len(cells), cell, ctx, reporter, watcher)
                result = unit.run_and_seal(inputs, verdicts, why,
                                           on_tests=lambda: budget.resize(held, cell.id, "tests"))
                budget.demands.learned("setup", result.durations.setup_demand)
                budget.demands.learned("tests", result.durations.tests_demand)
                log = ctx.layout.evidence("logs", cell.id)
            else:
                result = hit
        reporter.emit(events.CellFinished(i + 1, len(cells), cell.id, result=result, log=log,
                                          root=ctx.project.root))
        with writing:
            done[i] = result
            if writing_to:
                _write(m, cells, _ordered(done), started, None, ctx, writing_to, partial)
        return result

    reporter.emit(events.CellsStarting(len(cells)))
    try:
        with live.Watcher(reporter, stream_logs=running.view == "verbose") as watcher:
            finished, stop = schedule.run(one, cells, len(cells))  # a thread per cell: the budget decides who runs
    finally:
        reporter.emit(events.CellsDone())
    done.update(finished)
    results = _ordered(done)
    interrupted = stop.code if stop is not None else None
    final = None
    if report_as:
        pending = Pending(m, cells, results, started, ctx, report_as, writing_to, partial, reporter)
        if then_cross and stop is None:
            return results, interrupted, pending
        final = pending.final(None, interrupted=stop is not None)
    return results, interrupted, final


class _CellUnit:
    """Step 3b-3c for a cell the cache could not answer: run it (runner.run_cell, watched by the live view),
    record the sources it tested, seal the key it may be re-used under, store it as reports/cells/<id>.json."""

    def __init__(self, i: int, total: int, cell, ctx, reporter: events.Reporter, watcher: live.Watcher):
        self.i, self.total, self.cell, self.ctx = i, total, cell, ctx
        self.reporter, self.watcher = reporter, watcher

    def say(self, text: str) -> None:
        self.reporter.emit(events.CellNote(self.i + 1, self.total, self.cell.id, text))

    def run_and_seal(self, inputs, verdicts: cache.Verdicts, why: str, on_tests) -> CellResult:
        cell, ctx, layout = self.cell, self.ctx, self.ctx.layout
        progress, log = layout.transient("progress", cell.id), layout.evidence("logs", cell.id)
        sources = verdicts.sources
        self.reporter.emit(events.CellStarted(self.i + 1, self.total, cell.id, "started" + (
            " (%s)" % why if why and why != "no stored result" else ""), progress=progress, log=log,
            expected_s=verdicts.expected_tests_s(cell.id)))
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
        verdicts.seal(result, inputs)
        write_atomic(layout.result(cell.id), json.dumps(result.to_json(), indent=2) + "\n")
        return result


class Pending:
    """A run's report once its cells ran: in progress (where unfinished reports go: beside an earlier complete one)
    until the last step is done, then written over the earlier one. The cross step is such a step: interrupted
    there, the run is interrupted, and the earlier complete report stays whole."""

    def __init__(self, m, cells, results, started, ctx, report_as, writing_to, partial, reporter):
        self.m, self.cells, self.results, self.started, self.ctx = m, cells, results, started, ctx
        self.report_as, self.writing_to, self.partial, self.reporter = report_as, writing_to, partial, reporter

    def interrupted(self) -> dict:
        return _write(self.m, self.cells, self.results, self.started, None, self.ctx, self.writing_to, self.partial,
                      interrupted=True)

    def final(self, cross_verdicts, interrupted: bool = False) -> dict:
        """The run's last report: over the earlier complete one only if this run finished; summed up, with where."""
        m, ctx = self.m, self.ctx
        name = self.writing_to if interrupted else self.report_as
        final = _write(m, self.cells, self.results, self.started, None if interrupted else now(), ctx, name,
                       self.partial, interrupted=interrupted, cross_verdicts=cross_verdicts)
        if not interrupted and self.writing_to != self.report_as:
            report.remove(ctx.reports, self.writing_to)
        notes = []
        if name != self.report_as:
            notes.append("this run did not finish: its report is %s.*; the complete %s.* of the earlier run is "
                         "untouched" % (name, self.report_as))
        if self.partial:
            notes.append("a subset run (--cells or pytest args after --) wrote %s.*; the full matrix's %s.* "
                         "is untouched" % (self.report_as, m.report_name(False)))
        self.reporter.emit(summary_of(final, ctx, name, notes))
        return final


def summary_of(rep: dict, ctx, name: str, notes=()) -> events.Summary:
    """The closing summary of a report written as `name`, with where its files are."""
    written = "reports: %s, %s, junit/, locks/, logs/" % (rel(ctx.layout.report(name), ctx),
                                                          rel(ctx.layout.report(name, ".md"), ctx))
    return events.Summary(rep, (written,), tuple(notes))


def _ordered(done: dict) -> list[CellResult]:
    return [done[i] for i in sorted(done)]


def _write(m, cells, results, started, finished, ctx, name, partial, interrupted=False, cross_verdicts=None):
    rep = report.build(m, cells, results, started, finished, report.load_bench(ctx.reports),
                       selection=ctx.selection, partial=partial, interrupted=interrupted)
    if cross_verdicts is not None:
        rep["cross"] = cross_verdicts
    report.write(rep, ctx.reports, name)
    return rep


def stored_results(cells, ctx) -> tuple[list[CellResult], list[str]]:
    """Each cell's last result (reports/cells/<id>.json) that may join a report now, and why each other may not:
    whole, for this definition, unfiltered, of this checkout, made by this tfpin (report.check_result)."""
    results, refused = [], []
    digest, sources = ctx.project.install_digest(), cache.sources_digest(ctx)
    for cell in cells:
        path = ctx.layout.result(cell.id)
        if not path.exists():
            refused.append("%s: no result for cell %s" % (rel(path, ctx), cell.id))
            continue
        problem, result = report.check_result(path, cell, stamp(cell, digest), sources, __version__,
                                              ctx.project.root)
        if problem:
            refused.append(problem)
        else:
            results.append(result)
    return results, refused


def report_from_stored(m, cells, ctx, name: str, partial: bool,
                       stored=None) -> tuple[dict, list[CellResult], list[str]]:
    """The report rebuilt from the cells' stored results (`stored`: stored_results() already read), never from an
    earlier report, with the stored bench figures and the cross verdicts made over exactly these results;
    (report, results, refused)."""
    results, refused = stored or stored_results(cells, ctx)
    started = min((r.started for r in results), default=now())
    finished = max((r.finished or started for r in results), default=started) if not refused else None
    verdicts = None
    if not refused and not partial:  # made by `tfpin matrix`, else joined from CI's reader jobs, else not made
        verdicts = (cross.stored(cells, results, ctx) or cross.from_reads(cells, results, ctx)
                    or cross.not_run(cells, results, ctx))
    rep = _write(m, cells, results, started, finished, ctx, name, partial, cross_verdicts=verdicts)
    return rep, results, refused


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
