"""`tfpin drift`: has the world moved under the selected cells since their last run?

Each cell's last lock (reports/locks/<id>.txt, of a result for the cell's present definition) is compared with what
its definition resolves to today, and a cell whose set changed runs its suite on the new set
(tfpin/pins/drift.py: the check, in pin discovery's trial env; the cell's env, lock and verdict are untouched).
Writes reports/drift.json and reports/drift.md; exit 0 when no cell that passed breaks, 1 when one does (or could
not be checked), 2 for bad input. The index "today" is whatever the installer reads: UV_DEFAULT_INDEX,
UV_FIND_LINKS and the other installer settings tfpin passes (tfpin/environ.py).
"""
from __future__ import annotations

import json
import time

from tfpin import __version__, environ, mdtext, schedule
from tfpin.cell.installer import find_uv, parse_freeze
from tfpin.cell.runner import stamp
from tfpin.config import inputs
from tfpin.config.context import now, rel
from tfpin.events import CellFinished, CellNote, CellStarted, Info, Output, Problem, Reporter, StepFinished
from tfpin.files import write_atomic
from tfpin.options import DriftOptions
from tfpin.pins import drift as drifts
from tfpin.pins.trials import Shared
from tfpin.report.build import check_result


def run(opts: DriftOptions, reporter: Reporter) -> int:
    if opts.selection.pytest_args is not None:
        raise inputs.UsageError("tfpin drift runs the project's whole suite on today's set; it takes no pytest "
                                "arguments after `--` (got: %s)" % " ".join(opts.selection.pytest_args))
    if opts.jobs is not None and opts.jobs < 1:
        raise inputs.UsageError("--jobs must be 1 or more (got %d)" % opts.jobs)
    if find_uv() is None:
        raise inputs.UsageError("tfpin drift resolves each cell as of today with uv (`uv pip compile`), and no uv "
                                "is installed: `pip install uv` next to tfpin")
    project, m, cells, ctx = inputs.load(opts.selection)
    locks = {cell.id: last_lock(cell, ctx) for cell in cells}
    if not any(isinstance(lock, tuple) for lock in locks.values()):
        raise inputs.UsageError("no selected cell of matrix %r has a lock to compare with: run `tfpin matrix` first "
                                "(%s)" % (m.name, "; ".join(str(v) for v in locks.values())))
    shared = Shared(ctx, opts.jobs, ctx.layout.pins / "drift-trials.json")
    reporter.emit(Info("drift of %d cells of matrix %r against today's index (%s); suite: pytest %s"
                       % (len(cells), m.name, shared.describe(), " ".join(project.test))))
    t0 = time.monotonic()

    def one(i, cell):
        def log(text):
            reporter.emit(CellNote(i + 1, len(cells), cell.id, text, detail=True))

        reporter.emit(CellStarted(i + 1, len(cells), cell.id, "drift check started"))
        lock = locks[cell.id]
        if isinstance(lock, tuple):
            found = drifts.CellDrift(cell, ctx, shared, log, i).run(*lock)
        else:
            found = drifts.entry(cell, drifts.NO_LOCK, error=lock)
        reporter.emit(CellFinished(i + 1, len(cells), cell.id, drifts.describe(found)))
        return found

    done, stop = schedule.run(one, cells, opts.jobs or 2 * environ.cpus())
    if stop is not None:
        reporter.emit(Problem("tfpin drift interrupted by %s; nothing was written" % stop.name))
        return stop.code
    found = [done[i] for i in range(len(cells))]
    seconds = time.monotonic() - t0
    reporter.emit(StepFinished("drift", seconds, "drift of %d cells in %.1fs" % (len(cells), seconds)))
    return write(found, m, ctx, seconds, opts.selection.skip_missing_interpreters, reporter)


def write(found: list[dict], m, ctx, seconds: float, skip_missing: bool, reporter: Reporter) -> int:
    """reports/drift.json and .md, the breaks as problems, the counts as the answer; the exit code."""
    red = [f for f in found if drifts.breaks(f, skip_missing)]
    data = {"tfpin": __version__, "matrix": m.name, "checked": now(), "seconds": round(seconds, 1),
            "counts": counts(found), "exit_code": 1 if red else 0, "cells": found}
    write_atomic(ctx.layout.report("drift"), json.dumps(data, indent=2) + "\n")
    write_atomic(ctx.layout.report("drift", ".md"), markdown(data))
    for f in red:
        reporter.emit(Problem("drift: %s %s" % (f["cell"], drifts.describe(f))))
    reporter.emit(Output("drift: %s; wrote %s and .md" % (said(data["counts"]), rel(ctx.layout.report("drift"), ctx))))
    return data["exit_code"]


def last_lock(cell, ctx):
    """(locked set, last verdict, lock path) of the cell's last run for its present definition, or why there is
    none to compare with."""
    path = ctx.layout.result(cell.id)
    if not path.exists():
        return "no result for cell %s (%s)" % (cell.id, rel(path, ctx))
    problem, result = check_result(path, cell, stamp(cell, ctx.install_digest))
    if problem or result is None:
        return problem or "no result for cell %s" % cell.id
    if not result.lock:
        return "%s: its last run (%s) wrote no lock" % (cell.id, result.status)
    lock = ctx.layout.evidence("locks", cell.id)  # where --reports has it (CI downloads evidence elsewhere)
    try:
        text = lock.read_text()
    except OSError as exc:
        return "%s: its lock %s cannot be read (%s)" % (cell.id, rel(lock, ctx), exc.strerror or exc)
    return parse_freeze(text), result.status, rel(lock, ctx)


def counts(found: list[dict]) -> dict:
    out: dict = {}
    for f in found:
        out[f["status"]] = out.get(f["status"], 0) + 1
    return out


def said(counted: dict) -> str:
    """'1 breaks, 1 can move on'."""
    return ", ".join("%d %s" % (n, status) for status, n in counted.items())


def markdown(data: dict) -> str:
    """reports/drift.md: a table a job summary can show, then a section per cell that changed."""
    t = mdtext.text
    lines = ["# Drift of matrix %s against today's index" % mdtext.code(data["matrix"], in_table=False), "",
             "Checked %s with tfpin %s: %s. Exit code %d (1: a cell that passed breaks today, or could not be "
             "checked)." % (data["checked"], data["tfpin"], said(data["counts"]), data["exit_code"]), "",
             "| cell | last run | today | what changed | first error | pin that holds it |",
             "|---|---|---|---|---|---|"]
    for f in data["cells"]:
        pins = "; ".join("%s (newest passing: %s)" % (mdtext.code(p["pin"]), t(p["last_good"])) for p in f["pins"])
        status = "**%s**" % f["status"] if f["status"] == drifts.BREAKS else f["status"]
        lines.append("| %s | %s | %s | %s | %s | %s |" % (mdtext.code(f["cell"]), t(f["last_verdict"] or "-"), status,
                                                        t(drifts.describe_changes(f["changes"])) or "-",
                                                        t(f["error"][:200]) or "-", pins or "-"))
    for f in data["cells"]:
        if f["changes"] or f["error"]:
            lines += [""] + _section(f)
    return "\n".join(lines) + "\n"


def _section(f: dict) -> list[str]:
    t = mdtext.text
    out = ["## %s: %s" % (mdtext.code(f["cell"], in_table=False), t(f["status"])), ""]
    if f["lock"]:
        out.append("- compared with its lock %s (last run: %s)" % (mdtext.code(f["lock"], in_table=False),
                                                                   t(f["last_verdict"])))
    for c in f["changes"]:
        out.append("- %s: %s -> %s" % (t(c["package"]), t(c["locked"] or "(not in the lock)"),
                                       t(c["today"] or "(no longer resolved)")))
    if f["error"]:
        out.append("- first error: %s" % t(f["error"]))
    for p in f["pins"]:
        out.append("- the pin that holds it: %s (newest passing release %s; %s breaks it: %s)" % (
            mdtext.code(p["pin"], in_table=False), t(p["last_good"]), t(p["first_bad"]), t(p["reason"])))
    if f["status"] == drifts.BREAKS and f["moves"]:
        out.append("- with those pins it may still move on: %s" % t(drifts.describe_changes(f["moves"])))
    if f["trials"]:
        out += ["", "| trial | verdict | seconds |", "|---|---|---|"]
        out += ["| %s | %s | %s |" % (t(tr["label"]), t(tr["verdict"]), tr["seconds"]) for tr in f["trials"]]
    return out
