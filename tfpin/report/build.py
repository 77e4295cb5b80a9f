"""A matrix run's report: built in memory from the results (the decision from tfpin/report/recommend.py), written
as matrix.json (machines), matrix.md (tfpin/report/markdown.py) and matrix.html (tfpin/report/html.py).

The files are rewritten atomically after every cell, so an interrupted run keeps every cell that
finished; where stored results join a report (`tfpin report`) each is checked first.
"""
from __future__ import annotations

import json
from pathlib import Path

from tfpin.cell import bench as benches
from tfpin.cell import junit
from tfpin.cell.result import CellResult
from tfpin.cell.status import NOT_RUN, STATUSES
from tfpin.files import write_atomic
from tfpin.mdtext import count
from tfpin.report import census, compat
from tfpin.report.markdown import render as markdown
from tfpin.report.recommend import no_recommendation, pins_in_force, recommend, verdicts

SCHEMA = 4  # 2: results carry stamp, definition, selection; reports partial/interrupted. 3: each cell is a
#            CellResult record (tfpin/cell/result.py, its own schema), pins only under `requirements`. 4: the columns
#            (version_columns, bench_column) are the report's own; a cell's bench figures are under `bench`


def remove(reports_dir: Path, name: str) -> None:
    for path in [Path(reports_dir) / (name + suffix) for suffix in (".json", ".md", ".html")] + [
            Path(reports_dir) / (stem + ".json") for stem in compat.names(name)]:
        if path.exists():
            path.unlink()


def build(matrix, cells, results: list[CellResult], started: str, finished: str | None, bench: dict,
          table_groups=None, selection=None, partial: bool = False, interrupted: bool = False) -> dict:
    """table_groups: requirement sets of the user's table (default: matrices/table.toml), to mark off-table ones.

    selection: pytest args of a filtered run (no recommendation at all); partial: a subset of the
    matrix's cells (recommendation marked partial); interrupted: the run was stopped (none).
    """
    if table_groups is None:
        from tfpin.config import matrix as matrices

        table_groups = {c.group for c in matrices.load(matrices.DEFAULT_MATRIX).cells}
    if interrupted:
        rec = no_recommendation("the run was interrupted: finished cells are listed, nothing is recommended")
    elif selection:
        rec = no_recommendation("a filtered run (pytest args %s) proves only part of the suite and never "
                                "enters a recommendation" % " ".join(selection))
    elif any(r.status == NOT_RUN for r in results):
        not_run = count(sum(r.status == NOT_RUN for r in results), "cell")
        rec = no_recommendation("the run stopped at its first failure (--fail-fast): %s did not run, so nothing "
                                "is recommended" % not_run)
    else:
        rec = recommend(cells, results)
        if partial:
            rec["partial"] = True
            rec["summary"] = "partial evidence (%d of %d cells of matrix %r): %s" % (
                len(cells), len(matrix.cells), matrix.name, rec["summary"])
    rep = {
        "schema": SCHEMA,
        "matrix": matrix.name,
        "matrix_file": str(matrix.path.name),
        "description": matrix.description,
        "started": started,
        "finished": finished,
        "selection": list(selection) if selection else None,
        "partial": bool(partial or selection),
        "interrupted": interrupted,
        "cells_planned": [c.id for c in cells],
        "cells": [r.to_json() for r in results],
        "summary": summary(results, len(cells)),
        "pairs": verdicts(cells, results, table_groups),
        "pins": pins_in_force(cells),
        "purpose": getattr(matrix, "purpose", "compatibility"),
        "migration": migration_cost(results) if getattr(matrix, "purpose", "") == "migration" else None,
        "census": census.build(results),
        "recommendation": rec,
        # The matrix's own packages (Matrix.version_columns), kept here so every view, and a later rendering of
        # this very report, shows the same columns.
        "version_columns": matrix.version_columns(),
        # How the matrix's catalogue spells each package in cell ids ("tf"): the badge names the leading one so.
        "labels": {name: spec["label"] for name, spec in getattr(matrix, "shared", {}).get("packages", {}).items()
                   if "label" in spec},
    }
    merge_bench(rep, matrix, bench)
    return rep


def migration_cost(results: list[CellResult]) -> list[dict]:
    """Per cell of a migration matrix: what failed, what could not apply (skip reasons, counted), and the
    notes its tests attached (which compat rows it needed): the price of moving there."""
    out = []
    for r in results:
        reasons: dict[str, int] = {}
        for reason in (r.skips or {}).values():
            reasons[reason] = reasons.get(reason, 0) + 1
        out.append({"cell": r.id, "status": r.status, "failing": r.failing, "reason": r.reason,
                    "skipped": sorted(reasons.items(), key=lambda kv: -kv[1]), "notes": r.notes or []})
    return out


def stock_peer(matrix, result: dict) -> str | None:
    """The id of the stock cell of the same release (same Python, same other pins) for a cell that pins
    another build of a package (intel-tensorflow, tensorflow-gpu: `pins_as` in the catalogue), else None."""
    from tfpin.config.cells import cell_id

    packages = matrix.shared.get("packages", {})
    reqs = list(result.get("requirements", {}).items())
    swapped = [(packages.get(name, {}).get("pins_as", name), version) for name, version in reqs]
    if swapped == reqs or not all(name in packages for name, _ in swapped):
        return None
    return cell_id(result["python"], swapped, packages)


def beside_stock(matrix, results: list[dict]) -> list[dict]:
    """The headline bench figure of each non-stock build next to the stock build's of the same release, where both
    were measured; a ratio only for like with like (beside())."""
    by_id = {r["id"]: r for r in results}
    out = []
    for r in results:
        peer = by_id.get(stock_peer(matrix, r) or "")
        if peer is not None and benches.measured(r.get("bench")) and benches.measured(peer.get("bench")):
            out.append(beside(r["id"], r["bench"], peer["id"], peer["bench"]))
    return out


def beside(cell: str, ours: dict, stock_cell: str, theirs: dict) -> dict:
    """One row of beside_stock. Two headlines compare only when they are the same figure, computed the same way
    (a bench may say how, `computed_as`: e.g. which gradient formulations), over a stock figure that is not 0;
    otherwise the row has no ratio and says why."""
    (name, value), (stock_name, stock_value) = benches.headline(ours), benches.headline(theirs)
    row = {"cell": cell, "figure": name, "value": value, "stock_cell": stock_cell, "stock_value": stock_value,
           "ratio": None}
    if ours.get("computed_as") is not None:
        row["computed_as"] = ours["computed_as"]
    if name != stock_name:
        row["not_comparable"] = "different headline figures: %s measured %s, %s measured %s" % (
            cell, name, stock_cell, stock_name)
    elif ours.get("computed_as") != theirs.get("computed_as"):
        row["not_comparable"] = "computed differently: %s as %s, %s as %s" % (cell, _how(ours), stock_cell,
                                                                            _how(theirs))
    elif stock_value == 0:
        row["not_comparable"] = "%s measured %s 0" % (stock_cell, stock_name)
    else:
        row["ratio"] = round(value / stock_value, 2)
    return row


def _how(record: dict) -> str:
    how = record.get("computed_as")
    return ", ".join("%s %s" % (k, v) for k, v in sorted(how.items())) if isinstance(how, dict) else "(not said)"


def attach_bench(results: list[dict], bench: dict) -> None:
    """Each cell's stored bench record, only where it was measured for this very cell definition and keeps the
    bench contract (bench.for_report); figures from before are dropped first."""
    for r in results:
        r.pop("bench", None)
        record = benches.for_report(bench.get(r["id"]), r.get("stamp"))
        if record is not None:
            r["bench"] = record


def merge_bench(rep: dict, matrix, bench: dict) -> None:
    """Attach bench figures to a report and redo what is derived from them (the bench column, the figures beside
    stock): at build time, and again when `tfpin bench`, run after `tfpin matrix`, updates the written report."""
    attach_bench(rep["cells"], bench)
    rep["bench_column"] = benches.column([r.get("bench") for r in rep["cells"]])
    rep["beside_stock"] = beside_stock(matrix, rep["cells"])


def _against_junit(path: Path, data, root: Path) -> str:
    """'' when the result's own JUnit says what the result says: a `passed` must have its JUnit, with that many
    passed and nothing failed (a result edited from failed to passed is refused)."""
    if not data.junit:
        return "%s: says passed but names no JUnit report: not evidence of a run" % path
    try:
        counts = junit.read(root / data.junit)
    except (OSError, junit.CorruptReport) as exc:
        return "%s: says passed but its JUnit %s cannot be read (%s)" % (path, data.junit, exc)
    flaky = {r.get("test") for r in data.retries or [] if isinstance(r, dict) and r.get("flaky")}
    # --retries: the JUnit is the first run's; its only failures are the tests that passed when run again
    if counts["errors"] or set(counts["failing"]) != flaky or len(flaky) != data.tests.flaky \
            or counts["passed"] + len(flaky) != data.tests.passed:
        return ("%s: says passed with %d passed%s, but its JUnit %s says %d passed, %d failed, %d errors: the result "
                "was edited or belongs to another run; re-run the cell" % (
                    path, data.tests.passed, " (%d of them flaky)" % data.tests.flaky if data.tests.flaky else "",
                    data.junit, counts["passed"], counts["failed"], counts["errors"]))
    return ""


def check_result(path: Path, cell, current_stamp: str, sources: str | None = None, version: str | None = None,
                 root: Path | None = None):
    """(problem or '', result): a stored result joins a report only if it is whole, for this definition, unfiltered,
    of these sources (`sources`: their digest now), made by this tfpin (`version`) and, with the project `root`,
    agrees with its own JUnit."""
    try:
        data = CellResult.from_json(json.loads(Path(path).read_text()), str(path))
    except (OSError, ValueError) as exc:  # ResultFormatError is a ValueError: it names the file and the key
        return "%s: unreadable (%s)" % (path, exc), None
    if data.id != cell.id or data.status not in STATUSES:
        return "%s: not a tfpin result for cell %s" % (path, cell.id), None
    if data.stamp != current_stamp:
        old, wanted = data.definition or {}, cell.definition()
        diffs = ["%s: %s -> %s" % (k, old.get(k), wanted[k]) for k in wanted if old.get(k) != wanted[k]]
        return ("%s: produced for another definition of %s (stamp %s, the matrix now gives %s%s)"
                % (path, cell.id, data.stamp, current_stamp, "; " + "; ".join(diffs) if diffs else "")), None
    if data.selection:
        return ("%s: a filtered run (pytest args %s), not the full suite" % (path, " ".join(data.selection))), None
    if data.finished is None or data.status == "interrupted":
        return "%s: the run of %s did not finish" % (path, cell.id), None
    if root is not None and data.status == "passed":
        problem = _against_junit(path, data, Path(root))
        if problem:
            return problem, None
    made = data.harness
    if version is not None and made.get("tfpin") != version:
        return ("%s: made by tfpin %s, this is tfpin %s: results of two harness versions are not joined; re-run "
                "the cell" % (path, made.get("tfpin", "(unknown)"), version)), None
    if sources is not None and made.get("sources") != sources:
        return ("%s: made from other sources (digest %s, the checkout here is %s): it tested other code; re-run "
                "the cell on this checkout" % (path, made.get("sources", "(none)"), sources)), None
    return "", data


def summary(results, planned: int) -> dict:
    out = {"planned": planned, "finished": len(results)}
    for r in results:
        out[r.status] = out.get(r.status, 0) + 1
    return out


def write(report: dict, reports_dir: Path, name: str = "matrix") -> None:
    """<name>.json, <name>.md and <name>.html, and the files for other tools (compat.json, badge.json:
    tfpin/report/compat.py), each replaced atomically."""
    from tfpin.report.html import render

    write_atomic(Path(reports_dir) / (name + ".json"), json.dumps(report, indent=2) + "\n")
    write_atomic(Path(reports_dir) / (name + ".md"), markdown(report))
    write_atomic(Path(reports_dir) / (name + ".html"), render(report))
    compat.write(report, reports_dir, name)


def load_bench(reports_dir: Path) -> dict:
    out = {}
    for path in sorted((Path(reports_dir) / "bench").glob("*.json")):
        try:
            out[path.stem] = json.loads(path.read_text())
        except ValueError:
            continue
    return out
