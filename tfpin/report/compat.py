"""The report for other tools: compat.json (schema tfpin/schemas/compat-1.json), the shields.io badge endpoint, and
the `pip install -c` constraints files of the recommended cells.

One more view of the report built in memory (tfpin/report/build.py), written beside matrix.json each time it is, so
what a machine reads never disagrees with what a person reads. The only thing it adds is each cell's whole installed
set, read from the cell's lock in the same report directory. The fields are documented in docs/compat-file.md.
"""
from __future__ import annotations

import json
from pathlib import Path

from packaging.version import InvalidVersion, Version

from tfpin import __version__
from tfpin.cell.installer import parse_freeze
from tfpin.cell.status import fails
from tfpin.config.layout import evidence_in
from tfpin.files import write_atomic

SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schemas" / ("compat-%d.json" % SCHEMA_VERSION)
SCHEMA_ID = "urn:tfpin:schema:compat-%d" % SCHEMA_VERSION


class NoConstraints(Exception):
    """No constraints file can be written from this report; the message says why and what to do."""


def names(report_name: str) -> tuple[str, str]:
    """The stems of the compatibility file and the badge written beside `report_name`.json: matrix -> compat,
    badge; matrix-full-partial -> compat-full-partial, badge-full-partial."""
    tail = report_name[len("matrix"):] if report_name.startswith("matrix") else "-" + report_name
    return "compat" + tail, "badge" + tail


def build(rep: dict, reports_dir: Path, report_name: str = "matrix") -> dict:
    """The compatibility document of a report (see the module's docstring)."""
    pins_of: dict[str, list] = {}
    for pin in rep.get("pins", []):
        for cell_id in pin["cells"]:
            pins_of.setdefault(cell_id, []).append({"pin": pin["pin"], "reason": pin["reason"],
                                                    "origin": pin["origin"]})
    cells = [_cell(r, reports_dir, pins_of.get(r["id"], [])) for r in rep["cells"]]
    sources = {r.get("harness", {}).get("sources") for r in rep["cells"]}
    return {
        "$schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "tfpin": {"version": __version__},
        "sources_digest": sources.pop() if len(sources) == 1 else None,
        "matrix": {"name": rep["matrix"], "file": rep["matrix_file"], "description": rep.get("description") or ""},
        "report": {"file": report_name + ".json", "started": rep["started"], "finished": rep["finished"],
                   "complete": _complete(rep), "partial": bool(rep["partial"]), "interrupted": bool(rep["interrupted"]),
                   "cells_planned": len(rep["cells_planned"])},
        "cells": cells,
        "recommendation": _recommendation(rep["recommendation"]),
    }


def _complete(rep: dict) -> bool:
    """Every planned cell finished in a run that was neither stopped nor a subset."""
    return (rep["finished"] is not None and not rep["interrupted"] and not rep["partial"]
            and len(rep["cells"]) == len(rep["cells_planned"]))


def _cell(r: dict, reports_dir: Path, pins: list) -> dict:
    definition = r.get("definition") or {}
    tests = r.get("tests") or {}
    lock = evidence_in(reports_dir, "locks", r["id"]) if r.get("lock") else None
    try:
        resolved = parse_freeze(lock.read_text()) if lock is not None else None
    except OSError:  # a joined report whose lock was not downloaded: the versions are unknown, not empty
        resolved = None
    return {
        "id": r["id"],
        "python": r["python"],
        "requirements": dict(r.get("requirements") or {}),
        "definition": {"python": definition.get("python", r["python"]),
                       "requirements": list(definition.get("requirements", [])),
                       "constraints": list(definition.get("constraints", [])),
                       "install": list(definition.get("install", []))},
        "status": r["status"],
        "reason": r.get("reason") or "",
        "tests": {k: int(tests.get(k, 0)) for k in ("passed", "failed", "skipped", "errors", "flaky")},
        "resolved": resolved,
        "lock": r.get("lock") if resolved is not None else None,
        "pins": pins,
    }


def _recommendation(rec: dict) -> dict:
    return {
        "summary": rec["summary"],
        "requirements": dict(rec["requirements"]) if rec.get("requirements") else None,
        "python": list(rec.get("python", [])),
        "cells": list(rec.get("cells", [])),
        "pin_lines": list(rec.get("constraints", [])),
        "partial": bool(rec.get("partial", False)),
        "rejected_newer": [{"requirements": dict(x["requirements"]), "why": x["why"]}
                           for x in rec.get("rejected_newer", [])],
    }


def badge(rep: dict) -> dict:
    """The shields.io endpoint: the releases of the matrix's leading package whose requirement set works (every
    cell of it passed or has no build for its Python: the report's `works` verdict), and the Pythons on which a
    cell of such a set passed. Runs of neighbouring releases (in the matrix's own order) are joined: 1.12-1.14."""
    pairs = [p for p in rep.get("pairs", []) if p["requirements"]]
    if not pairs:
        return _shield("no cells", "lightgrey")
    leading = next(iter(pairs[0]["requirements"]))
    label = (rep.get("labels") or {}).get(leading, leading)
    series = [_series(p["requirements"].get(leading, "")) for p in pairs]
    works = [p for p, s in zip(pairs, series) if p["verdict"] == "works"]
    statuses = {c["id"]: c["status"] for c in rep["cells"]}
    pythons = [c["python"] for c in rep["cells"]]
    passed_on = {c["python"] for c in rep["cells"] if c["status"] == "passed"
                 and any(c["id"] in p["cells"] for p in works)}
    if not works or not passed_on:
        message, color = "no set passed", "red"
    else:
        chosen = {s for p, s in zip(pairs, series) if p["verdict"] == "works"}
        message = "%s %s | py%s" % (label.upper(), _runs(series, chosen), _runs(pythons, passed_on))
        color = "yellow" if any(fails(s) for s in statuses.values()) else "brightgreen"
    return _shield(message, color if _complete(rep) else "lightgrey")


def _shield(message: str, color: str) -> dict:
    return {"schemaVersion": 1, "label": "tfpin", "message": message, "color": color}


def _series(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _order(item: str):
    try:
        return (0, Version(item))
    except InvalidVersion:
        return (1, item)


def _runs(every: list[str], chosen: set[str]) -> str:
    """`chosen` as runs over the ordered distinct items of `every`: 1.12-1.13, 1.15."""
    ordered = sorted(set(every), key=_order)
    runs: list[list[str]] = []
    for i, item in enumerate(ordered):
        if item not in chosen:
            continue
        if runs and ordered[i - 1] == runs[-1][-1]:
            runs[-1].append(item)
        else:
            runs.append([item])
    return ", ".join(run[0] if len(run) == 1 else "%s-%s" % (run[0], run[-1]) for run in runs)


def write(rep: dict, reports_dir: Path, report_name: str) -> None:
    """compat.json and badge.json (their names follow the report's: names()), each replaced atomically."""
    compat_stem, badge_stem = names(report_name)
    doc = build(rep, reports_dir, report_name)
    write_atomic(Path(reports_dir) / (compat_stem + ".json"), json.dumps(doc, indent=2) + "\n")
    write_atomic(Path(reports_dir) / (badge_stem + ".json"), json.dumps(badge(rep), indent=2) + "\n")


def constraints_files(doc: dict) -> dict[str, str]:
    """{constraints-py3.X.txt: text}, one per Python of the recommendation: the exact installed set of the recommended
    cell of that Python. NoConstraints when the document gives none to trust (no recommendation, a partial or
    unfinished report, a recommended cell whose installed set is unknown)."""
    rec, report = doc["recommendation"], doc["report"]
    where = "%s (matrix %s)" % (report["file"], doc["matrix"]["name"])
    if rec["requirements"] is None:
        raise NoConstraints("%s recommends nothing (%s): no constraints file written" % (where, rec["summary"]))
    if rec["partial"] or not report["complete"]:
        raise NoConstraints("%s is not a whole run of its matrix (a subset, interrupted or unfinished): constraints "
                            "come only from a complete report's recommendation; no constraints file written" % where)
    by_id = {c["id"]: c for c in doc["cells"]}
    out = {}
    for cell_id in rec["cells"]:
        cell = by_id[cell_id]
        if cell["resolved"] is None:
            raise NoConstraints("recommended cell %s: its lock (%s) is not in the report directory, so its installed "
                                "set is unknown; no constraints file written" % (cell_id, "reports/locks/%s.txt"
                                                                                  % cell_id))
        out["constraints-py%s.txt" % cell["python"]] = _constraints_text(doc, cell)
    return out


def _constraints_text(doc: dict, cell: dict) -> str:
    rec = doc["recommendation"]
    label = " + ".join("%s %s" % kv for kv in rec["requirements"].items())
    header = [
        "# pip constraints for Python %s, written by tfpin %s (`tfpin report --constraints DIR`)." % (
            cell["python"], doc["tfpin"]["version"]),
        "# Every package installed in cell %s, which %s (%d tests passed), of the recommended set %s;" % (
            cell["id"], cell["status"], cell["tests"]["passed"], label),
        "# from %s of matrix %s, finished %s, sources digest %s." % (
            doc["report"]["file"], doc["matrix"]["name"], doc["report"]["finished"], doc["sources_digest"]),
        "# Use: pip install -c constraints-py%s.txt %s" % (cell["python"], " ".join(
            "%s==%s" % kv for kv in rec["requirements"].items())),
    ]
    return "\n".join(header + ["%s==%s" % kv for kv in sorted(cell["resolved"].items())]) + "\n"


def write_constraints(doc: dict, directory: Path) -> list[Path]:
    """The constraints files of constraints_files(), each replaced atomically; the paths written."""
    written = []
    for filename, text in constraints_files(doc).items():
        write_atomic(Path(directory) / filename, text)
        written.append(Path(directory) / filename)
    return written
