"""`tfpin matrix` as named steps, top to bottom; each step is a function here or in the module that owns it.

    1. load      inputs.load            project, matrix, selected cells, Context; bad input exits 2 here
    2. schedule  schedule.run           the cells, as many at once as the cores feed (Parallelism), with the
                                        interrupt rules
    3. per cell  cache.lookup           re-use the stored verdict when its key is unchanged ...
                 runner.run_cell        ... else run it: env (envs), imports, suite (pytest), classify (status)
                 cache.seal             the key the new result can be re-used under; results/cells/<id>.json
                 report.write           the report, rewritten after every cell (beside a complete one until done)
    4. cross     cross.run              verdicts between the passed cells
    5. report    report.write           matrix.json, .md, .html with the cross verdicts
    6. exit      status.exit_code       0 / 1 / 3, or 130 / 143 for a signal
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time

from . import __version__, cache, cross, environ, inputs, installer, live, load, procs, report, schedule
from .console import closing_line, progress, result_line
from .context import now, rel
from .files import write_atomic
from .incell import cell_environ
from .result import CellResult
from .runner import run_cell, stamp
from .status import exit_code, exit_reason


def matrix(args) -> int:
    project, m, cells, ctx = inputs.load(args)
    partial = bool(args.cells) or ctx.selection is not None
    if args.jobs is not None and args.jobs < 1:
        raise inputs.UsageError("--jobs must be 1 or more (got %d)" % args.jobs)
    print("tfpin: project %s, matrix %r (%s), %d cells%s" % (
        project.root, m.name, m.path, len(cells), ", pytest args: " + " ".join(ctx.selection)
        if ctx.selection else ""), flush=True)
    t0 = time.monotonic()
    results, interrupted, pending = run_cells(m, cells, ctx, True, partial, jobs=args.jobs,
                                              use_cache=not args.no_cache, view=args.view, then_cross=True)
    print("tfpin: %d cells in %.1fs" % (len(results), time.monotonic() - t0))
    if interrupted is not None:
        return finish(results, interrupted, args)
    try:
        verdicts = cross_step(cells, results, ctx, use_cache=not args.no_cache, jobs=args.jobs)
    except procs.Interrupted as exc:
        pending.interrupted()  # the run's report stays where unfinished reports go, marked so
        print(closing_line(results))
        kept = "" if pending.writing_to == pending.report_as else "; the complete report of an earlier run is untouched"
        print("tfpin: interrupted by %s during the cross-cell checks; every cell's result is in %s.*, marked "
              "interrupted, without cross-cell verdicts%s" % (exc.name, pending.writing_to, kept), file=sys.stderr)
        return exc.code
    pending.final(verdicts)
    code = finish(results, None, args)
    for error in verdicts.get("errors", []):
        print("tfpin: cross-cell step failed: %s" % error, file=sys.stderr)
    return code or (1 if verdicts.get("errors") else 0)


def cross_step(cells, results, ctx, use_cache: bool, jobs: int | None = None) -> dict:
    """The readers of every passed cell, one per core at a time (each is one pytest process), or `-j N`."""
    t1 = time.monotonic()
    verdicts = cross.run(cells, results, ctx, log=lambda line: print("tfpin: " + line, flush=True),
                         use_cache=use_cache, jobs=jobs or environ.cpus())
    print("tfpin: cross-cell checks in %.1fs%s" % (time.monotonic() - t1, ": skipped, " + verdicts["skipped"]
                                                   if "skipped" in verdicts else ""))
    return verdicts


class Parallelism:
    """How many cells run at once. `-j N`: N cells, each holding one of N slots from start to end. By default:
    the cores are a budget (schedule.Cores) and each phase of a cell holds the cores it kept busy in its
    last run (set-up, then tests: load.Demands), so a one-process suite runs a cell per core, a suite that
    feeds two cores runs alone, and cell N+1's env is built during cell N's tests when both fit."""

    def __init__(self, cells, ctx, jobs: int | None):
        self.jobs = jobs
        self.cores = schedule.Cores(jobs if jobs else environ.cpus())
        self.demands = load.Demands(cache.previous_demands(ctx, cells) if jobs is None else {}, environ.cpus(),
                                    ctx.project.cores)

    def hold(self, i: int, cell) -> schedule.Held:
        return self.cores.hold(i, 1 if self.jobs else self.demands.weight(cell.id, "setup"))

    def tests_start(self, held: schedule.Held, cell) -> None:
        if not self.jobs:
            held.resize(self.demands.weight(cell.id, "tests"))

    def learned(self, result: CellResult) -> None:
        self.demands.learned("setup", result.durations.setup_demand)
        self.demands.learned("tests", result.durations.tests_demand)

    def describe(self) -> str:
        if self.jobs:
            return "%d at a time (-j)" % self.jobs
        return "as many as %d cores feed (each cell's last run; one per core where unknown)" % self.cores.capacity


def default_jobs_text() -> str:
    return "as many as the cores feed, from each cell's last run (%d cores here)" % environ.cpus()


def run_cells(m, cells, ctx, write_report: bool, partial: bool = False, jobs: int | None = None,
              use_cache: bool = True, view: str = "normal", then_cross: bool = False):
    """Run cells, as Parallelism says (jobs: -j, None for by demand); (results in matrix order, interrupt exit
    code or None, the final report written or None; with `then_cross`, a Pending report the cross step completes).

    A cell whose verdict cache key (tfpin/cache.py) is unchanged re-uses its stored result, marked as
    such. Reports are rewritten after each cell, so an interrupted run keeps every finished one; while
    a complete report of an earlier run exists, this run's unfinished report goes beside it
    (`<name>-incomplete.*`) and replaces it only once this run finished.
    """
    started, done = now(), {}
    report_as = m.report_name(partial) if write_report else None
    writing_to = report.in_progress_name(ctx.reports, report_as) if report_as else None
    printing = threading.Lock()
    sources = cache.sources_digest(ctx)
    for name in environ.ignored(installer.backend(), ctx.project.root):
        print("tfpin: ignoring host %s: a cell installs exactly its definition (put pins into the matrix or the "
              "project's constraints)" % name, file=sys.stderr, flush=True)

    parallel = Parallelism(cells, ctx, jobs)
    if len(cells) > 1:
        print("tfpin: cells run %s" % parallel.describe(), flush=True)

    def one(i, cell):
        def say(text):
            with printing:
                progress(i + 1, len(cells), cell, text)

        with parallel.hold(i, cell) as held:
            inputs = cache.Inputs(cell, ctx, cell_environ(cell, ctx), sources)
            hit, why = cache.lookup(inputs, ctx) if use_cache else (None, "")
            if hit is None:
                say("started" + (" (%s)" % why if why and why != "no stored result" else ""))
                result = run_and_seal(i, cell, inputs, ctx, sources, say, monitor,
                                      on_tests=lambda: parallel.tests_start(held, cell))
                parallel.learned(result)
            else:
                result = hit
        say(result_line(result))
        with printing:
            done[i] = result
            if writing_to:
                _write(m, cells, _ordered(done), started, None, ctx, writing_to, partial)
        return result

    with live.Monitor(ctx.layout, len(cells), view) as monitor:
        finished, stop = schedule.run(one, cells, len(cells))  # a thread per cell: `parallel` decides who runs
    done.update(finished)
    results = _ordered(done)
    if os.environ.get("GITHUB_ACTIONS") == "true":  # the failing tests on the pull request's diff
        from .ci_github import annotations

        for r in results:
            for line in annotations(r, ctx.project.root):
                print(line, flush=True)
    interrupted = stop.code if stop is not None else None
    final = None
    if report_as:
        pending = Pending(m, cells, results, started, ctx, report_as, writing_to, partial)
        if then_cross and stop is None:
            return results, interrupted, pending
        final = pending.final(None, interrupted=stop is not None)
    return results, interrupted, final


def run_and_seal(i, cell, inputs, ctx, sources, say, monitor, on_tests=lambda: None) -> CellResult:
    """Step 3b-3c for a cell the cache could not answer: run it (runner.run_cell, watched by the live view),
    record the sources it tested, seal the key it may be re-used under, store it as reports/cells/<id>.json."""
    monitor.started(i, cell, cache.previous_tests_s(ctx, cell.id))
    try:
        result = run_cell(cell, ctx, say, on_tests)
    except procs.Interrupted as exc:
        if exc.result is not None:
            exc.result.harness["sources"] = sources
            say(result_line(exc.result))
        raise
    finally:
        monitor.finished(i, cell)
    result.harness["sources"] = sources
    cache.seal(result, inputs, ctx, cache.sources_digest(ctx))
    write_atomic(ctx.layout.result(cell.id), json.dumps(result.to_json(), indent=2) + "\n")
    return result


class Pending:
    """A run's report once its cells ran: in progress (where unfinished reports go: beside an earlier complete one)
    until the last step is done, then written over the earlier one. The cross step is such a step: interrupted
    there, the run is interrupted, and the earlier complete report stays whole."""

    def __init__(self, m, cells, results, started, ctx, report_as, writing_to, partial):
        self.m, self.cells, self.results, self.started, self.ctx = m, cells, results, started, ctx
        self.report_as, self.writing_to, self.partial = report_as, writing_to, partial

    def interrupted(self) -> dict:
        return _write(self.m, self.cells, self.results, self.started, None, self.ctx, self.writing_to, self.partial,
                      interrupted=True)

    def final(self, cross_verdicts, interrupted: bool = False) -> dict:
        return final_report(self.m, self.cells, self.results, self.started, self.ctx, self.report_as,
                            self.writing_to, self.partial, interrupted, cross_verdicts)


def final_report(m, cells, results, started, ctx, report_as, writing_to, partial, interrupted,
                 cross_verdicts=None) -> dict:
    """The run's last report: over the earlier complete one only if this run finished; printed, with where."""
    name = writing_to if interrupted else report_as
    final = _write(m, cells, results, started, None if interrupted else now(), ctx, name, partial,
                   interrupted=interrupted, cross_verdicts=cross_verdicts)
    if not interrupted and writing_to != report_as:
        report.remove(ctx.reports, writing_to)
    print()
    print(report.markdown(final), end="")
    print("reports: %s, %s, junit/, locks/, logs/" % (rel(ctx.layout.report(name), ctx),
                                                      rel(ctx.layout.report(name, ".md"), ctx)))
    if name != report_as:
        print("tfpin: this run did not finish: its report is %s.*; the complete %s.* of the earlier run is "
              "untouched" % (name, report_as))
    if partial:
        print("tfpin: a subset run (--cells or pytest args after --) wrote %s.*; the full matrix's %s.* "
              "is untouched" % (report_as, m.report_name(False)))
    return final


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
    finished = max((r.finished for r in results), default=started) if not refused else None
    verdicts = None
    if not refused and not partial:  # made by `tfpin matrix`, else joined from CI's reader jobs, else not made
        verdicts = (cross.stored(cells, results, ctx) or cross.from_reads(cells, results, ctx)
                    or cross.not_run(cells, results, ctx))
    rep = _write(m, cells, results, started, finished, ctx, name, partial, cross_verdicts=verdicts)
    return rep, results, refused


def finish(results, interrupted, args) -> int:
    print(closing_line(results))
    if interrupted is not None:
        print("tfpin: interrupted: finished cells are kept in the report; no recommendation from an "
              "interrupted run", file=sys.stderr)
        return interrupted
    code = exit_code(results, args.skip_missing_interpreters)
    if code:
        print("tfpin: %s" % exit_reason(results, args.skip_missing_interpreters), file=sys.stderr)
    return code
