"""`tfpin pins discover` over the selected cells: each cell's search under the one scheduler, results as
soon as they exist, and where the pins found are written."""
from __future__ import annotations

import json
import threading

from tfpin import environ, schedule
from tfpin.cell.installer import find_uv
from tfpin.config.context import rel
from tfpin.config.inputs import UsageError
from tfpin.events import CellFinished, CellNote, CellStarted, Info, Problem, Reporter
from tfpin.files import write_atomic
from tfpin.options import PinsOptions
from tfpin.pins import search as pins
from tfpin.pins import store as pinstore
from tfpin.pins.trials import Shared


def discover_cells(cells, ctx, project, m, opts: PinsOptions, reporter: Reporter):
    """Each cell's search (threads; the work is in child processes); their trials share the cores, the tests
    that failed and identical trials (tfpin/pins/trials.py: `jobs` trials at a time, None for as many as the cores
    feed). Each result is written as soon as it exists. A cell's hints are its constraints in force plus
    the pins found for the cells finished before it. Returns the results in matrix order, or the exit code
    of an interrupt."""
    if opts.jobs is not None and opts.jobs < 1:
        raise UsageError("--jobs must be 1 or more (got %d)" % opts.jobs)
    if find_uv() is None:
        raise UsageError("pins discover resolves each cell as of its release date with uv (`uv pip compile "
                         "--exclude-newer`), and no uv is installed: `pip install uv` next to tfpin")
    out_dir = ctx.layout.pins
    shared = Shared(ctx, opts.jobs, out_dir / "trials.json")
    reporter.emit(Info("pin discovery for %d cells of matrix %r (%s); cheap oracle: pytest %s; confirmation: "
                       "pytest %s" % (len(cells), m.name, shared.describe(), " ".join(project.smoke),
                                      " ".join(project.test))))
    searches = opts.jobs or 2 * environ.cpus()  # searches under way at once; between trials they only resolve
    hinting = threading.Lock()
    learned: list[str] = []  # pins found so far in this run: hints for the cells searched after them
    packages = list(opts.packages) if opts.packages else None

    def one(i, cell):
        def log(text):
            reporter.emit(CellNote(i + 1, len(cells), cell.id, text, detail=True))

        reporter.emit(CellStarted(i + 1, len(cells), cell.id, "discovery started"))
        with hinting:
            hints = list(dict.fromkeys(cell.constraint_lines() + learned))
        try:
            res = pins.Discovery(cell, ctx, project.smoke, log, packages, hints, shared, i).run()
        except pinstore.DiscoveryError as exc:
            res = pinstore.failed(cell, ctx, project.smoke, exc)
        with hinting:
            learned.extend(p["pin"] for p in res["pins"])
        write_atomic(out_dir / (cell.id + ".json"), json.dumps(res, indent=2) + "\n")
        write_atomic(out_dir / (cell.id + ".toml"), pinstore.cell_toml(res, cell))
        reporter.emit(CellFinished(i + 1, len(cells), cell.id, "%d pins, %d env builds, %d trials re-used, %.0f s%s" % (
            len(res["pins"]), res["env_builds"], res.get("trials_reused", 0), res["seconds"],
            " -- " + (res["problem"] or "unavailable: " + res["unavailable"])
            if res["problem"] or res["unavailable"] else "")))
        return res

    done, stop = schedule.run(one, cells, searches)
    if stop is not None:
        reporter.emit(Problem("pin discovery interrupted by %s; finished cells' results are in %s"
                              % (stop.name, rel(out_dir, ctx))))
        return stop.code
    return [done[i] for i in range(len(cells))]


def pins_target(project, m):
    """The matrix file holding this matrix's constraints (its base, for one that `extends`) when it belongs
    to the project, else the project's own config."""
    try:
        m.constraints_path.resolve().relative_to(project.root.resolve())
        return m.constraints_path, "[[constraints]]"
    except ValueError:
        header = "[[tool.tfpin.constraints]]" if project.source.name == "pyproject.toml" else "[[constraints]]"
        return project.source, header
