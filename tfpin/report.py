"""The three views of a matrix run: matrix.json (machines), matrix.md (a PR), the pin.

Both files are rewritten atomically after every cell, so an interrupted run keeps
every cell that finished.
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path

from packaging.version import Version

from .runner import write_atomic
from .status import PASSED, UNAVAILABLE

SCHEMA = 1
MD_VERSIONS = ("numpy", "protobuf", "h5py")


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def build(matrix, cells, results: list[dict], started: str, finished: str | None, bench: dict,
          table_groups=None) -> dict:
    """table_groups: requirement sets of the user's table (default: matrices/table.toml), to mark off-table ones."""
    if table_groups is None:
        from . import matrix as matrices

        table_groups = {c.group for c in matrices.load(matrices.DEFAULT_MATRIX).cells}
    for r in results:
        if r["id"] in bench:
            r["throughput"] = bench[r["id"]]
    return {
        "schema": SCHEMA,
        "matrix": matrix.name,
        "matrix_file": str(matrix.path.name),
        "description": matrix.description,
        "started": started,
        "finished": finished,
        "cells_planned": [c.id for c in cells],
        "cells": results,
        "summary": summary(results, len(cells)),
        "pairs": verdicts(cells, results, table_groups),
        "recommendation": recommend(cells, results),
    }


def summary(results, planned: int) -> dict:
    out = {"planned": planned, "finished": len(results)}
    for r in results:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


def group_cells(cells) -> dict[tuple, list]:
    """Cells by requirement set: the members of one pinnable choice, one per Python."""
    groups: dict[tuple, list] = {}
    for cell in cells:
        groups.setdefault(cell.group, []).append(cell)
    return groups


def verdicts(cells, results: list[dict], table_groups) -> list[dict]:
    """One verdict per requirement set (a TF/Keras pair), across the Pythons it was run on."""
    by_id = {r["id"]: r for r in results}
    groups = group_cells(cells)
    out = []
    for group, members in groups.items():
        statuses = {c.id: by_id[c.id]["status"] if c.id in by_id else "not run" for c in members}
        failing = [t for c in members if c.id in by_id for t in by_id[c.id].get("failing", [])]
        ran = [s for s in statuses.values() if s != UNAVAILABLE]
        if "not run" in ran:
            verdict = "incomplete"
        elif not ran:
            verdict = "unavailable"
        elif all(s == PASSED for s in ran):
            verdict = "works"
        else:
            verdict = "fails"
        out.append({"requirements": dict(group), "in_table": group in table_groups, "verdict": verdict,
                    "cells": statuses, "failing": sorted(set(failing))})
    return out


def recommend(cells, results: list[dict]) -> dict:
    """The newest requirement set whose cells passed on every Python this matrix asks for."""
    by_id = {r["id"]: r for r in results}
    groups = group_cells(cells)
    ranked = sorted(groups, key=lambda g: [Version(v) for _, v in g], reverse=True)
    rejected = []
    for group in ranked:
        members = groups[group]
        problems = []
        for cell in members:
            r = by_id.get(cell.id)
            if r is None:
                problems.append("%s not run" % cell.id)
            elif r["status"] != PASSED:
                problems.append("%s %s" % (cell.id, r["status"]))
        label = " + ".join("%s %s" % kv for kv in group)
        if problems:
            rejected.append({"requirements": dict(group), "why": "; ".join(problems)})
            continue
        return {
            **{name: version for name, version in group},
            "requirements": dict(group),
            "python": [c.python for c in members],
            "cells": [c.id for c in members],
            "constraints": pin_lines(members),
            "summary": "%s on Python %s" % (label, ", ".join(c.python for c in members)),
            "rejected_newer": rejected,
        }
    return {"requirements": None, "python": [], "constraints": [],
            "summary": "no requirement set passed on every Python of this matrix", "rejected_newer": rejected}


def pin_lines(members) -> list[str]:
    """requirements.txt lines; a pin needed on only some Pythons gets an environment marker."""
    lines = ["%s==%s" % kv for kv in members[0].group]
    order, where = [], {}
    for cell in members:
        for c in cell.constraints:
            if c.pin not in where:
                order.append(c.pin)
                where[c.pin] = []
            where[c.pin].append(cell.python)
    for pin in order:
        pys = where[pin]
        if len(pys) == len(members):
            lines.append(pin)
        else:
            marker = " or ".join('python_version == "%s"' % p for p in pys)
            lines.append("%s; %s" % (pin, marker))
    return lines


def markdown(report: dict) -> str:
    rows = [
        "# tfpin matrix `%s`" % report["matrix"],
        "",
        "%s. Started %s, %s." % (
            report["description"] or report["matrix_file"], report["started"],
            "finished " + report["finished"] if report["finished"] else "**still running or interrupted**"),
        "",
        "| cell | status | passed | failed | skipped | setup s | tests s | tensorflow | keras | %s | img/s |"
        % " | ".join(MD_VERSIONS),
        "|---|---|--:|--:|--:|--:|--:|---|---|%s|--:|" % "|".join("---" for _ in MD_VERSIONS),
    ]
    for r in report["cells"]:
        t, d, res = r["tests"], r["durations"], r.get("resolved", {})
        shown = r["status"] if r["status"] != UNAVAILABLE else "unavailable"
        rows.append("| `%s` | %s | %s | %s | %s | %.1f | %.1f | %s | %s | %s | %s |" % (
            r["id"], shown, t["passed"], t["failed"] + t["errors"], t["skipped"], d["setup_s"], d["tests_s"],
            res.get("tensorflow", r.get("tensorflow") or ""), res.get("keras", r.get("keras") or ""),
            " | ".join(res.get(k, "") for k in MD_VERSIONS), throughput_cell(r.get("throughput"))))
    missing = [c for c in report["cells_planned"] if c not in {r["id"] for r in report["cells"]}]
    for cid in missing:
        rows.append("| `%s` | not run | | | | | | | | %s | |" % (cid, " | ".join("" for _ in MD_VERSIONS)))
    notes = [r for r in report["cells"] if r["status"] != PASSED]
    if notes:
        rows += ["", "## Cells that did not pass", ""]
        for r in notes:
            rows.append("- `%s` **%s**: %s" % (r["id"], r["status"], r["reason"]))
    off = [p for p in report.get("pairs", []) if not p["in_table"]]
    if off:
        rows += ["", "## Off-table pairs", "", "Pairs the user's table does not list, judged on every Python run:", ""]
        for p in off:
            cells = ", ".join("`%s` %s" % kv for kv in p["cells"].items())
            pair = ", ".join("%s %s" % kv for kv in p["requirements"].items())
            line = "- %s: **%s** (%s)" % (pair, p["verdict"], cells)
            if p["failing"]:
                line += "; failing: " + ", ".join(p["failing"][:8]) + (" ..." if len(p["failing"]) > 8 else "")
            rows.append(line)
    rec = report["recommendation"]
    rows += ["", "## Recommended pin", ""]
    if rec["requirements"]:
        rows += ["%s." % rec["summary"], "", "```", *rec["constraints"], "```"]
    else:
        rows.append("None: %s." % rec["summary"])
    if rec["rejected_newer"]:
        rows += ["", "Newer choices not recommended:", ""]
        rows += ["- %s: %s" % (", ".join("%s %s" % kv for kv in x["requirements"].items()), x["why"])
                 for x in rec["rejected_newer"]]
    return "\n".join(rows) + "\n"


def throughput_cell(tp) -> str:
    if not tp or tp.get("status") != "measured":
        return ""
    value = "%.0f" % tp["images_per_sec"]
    if tp.get("keras_images_per_sec"):
        value += " (fit %.0f)" % tp["keras_images_per_sec"]
    return value


def write(report: dict, reports_dir: Path, name: str = "matrix") -> None:
    """<name>.json and <name>.md, each replaced atomically."""
    write_atomic(Path(reports_dir) / (name + ".json"), json.dumps(report, indent=2) + "\n")
    write_atomic(Path(reports_dir) / (name + ".md"), markdown(report))


def load_bench(reports_dir: Path) -> dict:
    out = {}
    for path in sorted((Path(reports_dir) / "bench").glob("*.json")):
        try:
            out[path.stem] = json.loads(path.read_text())
        except ValueError:
            continue
    return out
