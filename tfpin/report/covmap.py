"""The map of which of the project's lines each cell ran (`tfpin matrix --coverage`): every cell's kept coverage
data combined on the host, per file of the project's own packages.

For a version-compatibility matrix this is the map of the version-specific code: a line run in every cell is common
ground, a line run only in some cells is a path one release takes and another does not (and which), a line run in
no cell is a fallback no cell in the matrix reaches. The executable lines of each file are coverage.py's own
analysis of the project tree on the host (the same statements its reports count, `# pragma: no cover` left out); the
lines run are the cells' kept data (cell/covdata.py), already under the project's file names.
"""
from __future__ import annotations

from pathlib import Path

from tfpin import files
from tfpin.cell.covdata import measured_lines, packages
from tfpin.cell.result import CellResult


def build(results: list[CellResult], project) -> dict | None:
    """The report's `coverage` section, or None when no cell was measured (a run without --coverage)."""
    kept = {r.id: r.coverage for r in results if r.coverage and r.coverage.get("data")}
    if not kept:
        return None
    from coverage import Coverage
    from coverage.exceptions import CoverageException

    runs, problems = {}, []
    for cid in [cid for cid, record in kept.items() if not record.get("processes")]:
        problems.append("%s: no process of its suite left coverage data (it ended before its tests ran): it is "
                        "left out of the map" % cid)
        del kept[cid]
    for cid, record in kept.items():
        try:
            runs[cid] = _as_run(measured_lines(project.root / record["data"]), project.root)
        except (OSError, CoverageException) as exc:
            problems.append("%s: its coverage data %s could not be read: %s" % (cid, record["data"], exc))
    cells = [cid for cid in kept if cid in runs]
    nothing_run = Coverage(data_file=None, config_file=False)
    out_files = []
    for path in _project_files(project):
        name, where = path.relative_to(project.root).as_posix(), str(path.resolve())
        try:  # coverage's own analysis: its statements, and each line a cell ran mapped to its statement's first line
            statements = nothing_run.analysis2(where)[1]
            ran = [set(statements) - set(runs[c].analysis2(where)[3]) for c in cells]
        except CoverageException as exc:
            problems.append("%s: coverage.py cannot analyse it: %s" % (name, exc))
            continue
        if statements:
            out_files.append(_file(name, path, statements, ran, cells))
    totals = {k: sum(f[k] for f in out_files) for k in ("statements", "everywhere", "some_count", "none_count")}
    return {"cells": cells, "tools": {cid: kept[cid].get("tool") for cid in cells},
            "packages": sorted({p for record in kept.values() for p in record.get("packages", [])}),
            "files": out_files, "totals": totals, "problems": problems}


def _as_run(lines: dict[str, set], root: Path):
    """One cell's lines as an in-memory Coverage over the tree on this host, for coverage's analysis: a line a cell's
    Python traced inside a statement of several lines counts for that statement (3.6 and 3.7 trace a multi-line
    literal on another line than the host's Python would)."""
    from coverage import Coverage

    run = Coverage(data_file=None, config_file=False)
    run.get_data().add_lines({str((root / name).resolve()): sorted(found) for name, found in lines.items()})
    return run


def _project_files(project) -> list[Path]:
    out: list[Path] = []
    for _, where in packages(project):
        path = project.root / where
        out += [path] if path.is_file() else [p for p in files.walk(path) if p.suffix == ".py"]
    return sorted(set(out))


def _file(name: str, path: Path, statements: list[int], ran: list[set], cells: list[str]) -> dict:
    """One file: per statement the cells that ran it, and the runs of statements alike (ranges of line numbers)."""
    heat: list[tuple[int, list[int]]] = [(line, [i for i, lines in enumerate(ran) if line in lines])
                                         for line in statements]
    spans: list[list] = []  # [first line, last line, cell indices] over consecutive statements run by the same cells
    for line, which in heat:
        if spans and spans[-1][2] == which:
            spans[-1][1] = line
        else:
            spans.append([line, line, which])
    some = [{"lines": _range(a, b), "cells": [cells[i] for i in which]} for a, b, which in spans
            if 0 < len(which) < len(cells)]
    none = [_range(a, b) for a, b, which in spans if not which]
    return {"path": name, "statements": len(statements),
            "everywhere": sum(1 for _, which in heat if len(which) == len(cells)),
            "some_count": sum(1 for _, which in heat if 0 < len(which) < len(cells)),
            "none_count": sum(1 for _, which in heat if not which),
            "some": some, "none": none, "heat": heat,
            "source": path.read_text(encoding="utf-8", errors="replace").splitlines()}


def _range(first: int, last: int) -> str:
    return str(first) if first == last else "%d-%d" % (first, last)
