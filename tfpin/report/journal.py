"""The journal: a run's report as it is written, apart from what the console shows of it.

During a run it is rewritten after every cell, so an interrupt keeps each finished one. While a complete report of
an earlier run exists, this run's unfinished report goes beside it (`<name>-incomplete.*`) and replaces it only
once the run's last step (the cross step included) is done. `tfpin report` and `tfpin bench` rebuild it from the
cells' stored results instead (CI's fan-out: one job per cell, one that joins them).
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

from tfpin import __version__, events
from tfpin.cell import cache
from tfpin.cell.result import CellResult
from tfpin.cell.runner import stamp
from tfpin.config.context import now, rel
from tfpin.cross import run as cross
from tfpin.report import build as report
from tfpin.report import covmap


def in_progress_name(reports_dir: Path, name: str) -> str:
    """Where a run writes its report until it finishes: over `name` when there is no complete report there
    to lose, else beside it (`name-incomplete`), so an interrupted re-run never replaces a whole report."""
    try:
        earlier = json.loads((Path(reports_dir) / (name + ".json")).read_text())
    except (OSError, ValueError):
        return name
    complete = isinstance(earlier, dict) and earlier.get("finished") and not earlier.get("interrupted")
    return name + "-incomplete" if complete else name


class Journal:
    """One run's report: written in progress after every cell (it reads the run's events, as the console does),
    then final (or marked interrupted)."""

    def __init__(self, m, cells, ctx, partial: bool, reporter: events.Reporter):
        self.m, self.cells, self.partial, self.reporter = m, cells, partial, reporter
        self.ctx = ctx
        self.started = now()
        self.report_as = m.report_name(partial)
        self.writing_to = in_progress_name(ctx.reports, self.report_as)
        self.results: list[CellResult] = []
        self.done: dict[int, CellResult] = {}
        self.lock = threading.Lock()

    def emit(self, event: events.Event) -> None:
        """A cell's verdict: the cells finished so far (in matrix order), written where unfinished reports go."""
        if isinstance(event, events.CellFinished) and isinstance(event.result, CellResult):
            with self.lock:
                self.done[event.index] = event.result
                self.results = [self.done[k] for k in sorted(self.done)]
                write(self.m, self.cells, self.results, self.started, None, self.ctx, self.writing_to, self.partial)

    def interrupted(self) -> dict:
        return write(self.m, self.cells, self.results, self.started, None, self.ctx, self.writing_to, self.partial,
                     interrupted=True)

    def final(self, cross_verdicts, interrupted: bool = False, floors=None) -> dict:
        """The run's last report: over the earlier complete one only if this run finished; summed up, with where."""
        m, ctx = self.m, self.ctx
        name = self.writing_to if interrupted else self.report_as
        final = write(m, self.cells, self.results, self.started, None if interrupted else now(), ctx, name,
                      self.partial, interrupted=interrupted, cross_verdicts=cross_verdicts, floors=floors)
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
    written = "reports: %s, %s, junit/, locks/, logs/%s" % (rel(ctx.layout.report(name), ctx),
                                                            rel(ctx.layout.report(name, ".md"), ctx),
                                                            ", coverage/" if rep.get("coverage") else "")
    return events.Summary(rep, (written,), tuple(notes))


def write(m, cells, results, started, finished, ctx, name, partial, interrupted=False, cross_verdicts=None,
          floors=None) -> dict:
    """Build the report of these results (with the stored bench figures and, when given, the cross verdicts) and
    write it as `name`.json, .md and .html."""
    rep = report.build(m, cells, results, started, finished, report.load_bench(ctx.reports),
                       selection=ctx.selection, partial=partial, interrupted=interrupted)
    if cross_verdicts is not None:
        rep["cross"] = cross_verdicts
    if floors is not None:
        rep["floors"] = floors
    measured = covmap.build(results, ctx.project)
    if measured is not None:  # --coverage: what each cell's suite ran of the project's lines
        rep["coverage"] = measured
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


def from_stored(m, cells, ctx, name: str, partial: bool, stored=None) -> tuple[dict, list[CellResult], list[str]]:
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
    rep = write(m, cells, results, started, finished, ctx, name, partial, cross_verdicts=verdicts)
    return rep, results, refused
