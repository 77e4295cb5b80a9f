"""`tfpin pins discover` over the selected cells: each cell's search under the one scheduler, results as
soon as they exist, and where the pins found are written."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from . import schedule
from .console import progress
from .context import rel
from .files import write_atomic


def discover_cells(cells, ctx, project, packages, jobs, out_dir: Path, shared=None):
    """Each cell's search (threads; the work is in child processes); their trials share the cores, the tests
    that failed and identical trials (tfpin/trials.py: `jobs` trials at a time, None for as many as the cores
    feed). Each result is written as soon as it exists. A cell's hints are its constraints in force plus
    the pins found for the cells finished before it. Returns the results in matrix order, or the exit code
    of an interrupt."""
    import threading

    from . import environ, pins, pinstore
    from .trials import Shared

    shared = shared or Shared(ctx, jobs, out_dir / "trials.json")
    searches = jobs or 2 * environ.cpus()  # searches under way at once; between trials they only resolve
    printing = threading.Lock()
    learned: list[str] = []  # pins found so far in this run: hints for the cells searched after them

    def one(i, cell):
        def log(text):
            with printing:
                print(("%s| " % cell.id if searches > 1 else "") + text, flush=True)
        with printing:
            progress(i + 1, len(cells), cell, "discovery started")
            hints = list(dict.fromkeys(cell.constraint_lines() + learned))
        try:
            res = pins.Discovery(cell, ctx, project.smoke, log, packages, hints, shared, i).run()
        except pins.DiscoveryError as exc:
            res = pinstore.failed(cell, ctx, project.smoke, exc)
        with printing:
            learned.extend(p["pin"] for p in res["pins"])
        write_atomic(out_dir / (cell.id + ".json"), json.dumps(res, indent=2) + "\n")
        write_atomic(out_dir / (cell.id + ".toml"), pinstore.cell_toml(res, cell))
        with printing:
            progress(i + 1, len(cells), cell, "%d pins, %d env builds, %d trials re-used, %.0f s%s" % (
                len(res["pins"]), res["env_builds"], res.get("trials_reused", 0), res["seconds"],
                " -- " + (res["problem"] or "unavailable: " + res["unavailable"])
                if res["problem"] or res["unavailable"] else ""))
        return res

    done, stop = schedule.run(one, cells, searches)
    if stop is not None:
        print("tfpin: pin discovery interrupted by %s; finished cells' results are in %s"
              % (stop.name, rel(out_dir, ctx)), file=sys.stderr)
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
