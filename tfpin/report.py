"""The three views of a matrix run: matrix.json (machines), matrix.md (a PR), the pin.

Both files are rewritten atomically after every cell, so an interrupted run keeps
every cell that finished.
"""
from __future__ import annotations

import json
from pathlib import Path

from packaging.version import Version

from .mdtext import code, text
from .runner import write_atomic
from .status import PASSED, STATUSES, UNAVAILABLE

SCHEMA = 2  # 2: results carry stamp, definition, selection; reports partial/interrupted
MD_VERSIONS = ("numpy", "protobuf", "h5py")


def report_name(matrix, partial: bool) -> str:
    """File stem of a run's report: matrix.*, matrix-<name>.*, and -partial for a subset or filtered run."""
    from . import matrix as matrices

    base = "matrix" if matrix.name == matrices.DEFAULT_MATRIX else "matrix-" + matrix.name
    return base + "-partial" if partial else base


def in_progress_name(reports_dir: Path, name: str) -> str:
    """Where a run writes its report until it finishes: over `name` when there is no complete report there
    to lose, else beside it (`name-incomplete`), so an interrupted re-run never replaces a whole report."""
    try:
        earlier = json.loads((Path(reports_dir) / (name + ".json")).read_text())
    except (OSError, ValueError):
        return name
    complete = isinstance(earlier, dict) and earlier.get("finished") and not earlier.get("interrupted")
    return name + "-incomplete" if complete else name


def remove(reports_dir: Path, name: str) -> None:
    for suffix in (".json", ".md", ".html"):
        path = Path(reports_dir) / (name + suffix)
        if path.exists():
            path.unlink()


def build(matrix, cells, results: list[dict], started: str, finished: str | None, bench: dict,
          table_groups=None, selection=None, partial: bool = False, interrupted: bool = False) -> dict:
    """table_groups: requirement sets of the user's table (default: matrices/table.toml), to mark off-table ones.

    selection: pytest args of a filtered run (no recommendation at all); partial: a subset of the
    matrix's cells (recommendation marked partial); interrupted: the run was stopped (none).
    """
    if table_groups is None:
        from . import matrix as matrices

        table_groups = {c.group for c in matrices.load(matrices.DEFAULT_MATRIX).cells}
    if interrupted:
        rec = no_recommendation("the run was interrupted: finished cells are listed, nothing is recommended")
    elif selection:
        rec = no_recommendation("a filtered run (pytest args %s) proves only part of the suite and never "
                                "enters a recommendation" % " ".join(selection))
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
        "cells": results,
        "summary": summary(results, len(cells)),
        "pairs": verdicts(cells, results, table_groups),
        "pins": pins_in_force(cells),
        "purpose": getattr(matrix, "purpose", "compatibility"),
        "migration": migration_cost(results) if getattr(matrix, "purpose", "") == "migration" else None,
        "recommendation": rec,
    }
    merge_bench(rep, matrix, bench)
    return rep


def migration_cost(results: list[dict]) -> list[dict]:
    """Per cell of a migration matrix: what failed, what could not apply (skip reasons, counted), and the
    notes its tests attached (which compat rows it needed): the price of moving there."""
    out = []
    for r in results:
        reasons: dict[str, int] = {}
        for reason in (r.get("skips") or {}).values():
            reasons[reason] = reasons.get(reason, 0) + 1
        out.append({"cell": r["id"], "status": r["status"], "failing": r.get("failing", []),
                    "reason": r.get("reason", ""), "skipped": sorted(reasons.items(), key=lambda kv: -kv[1]),
                    "notes": r.get("notes", [])})
    return out


def stock_peer(matrix, result: dict) -> str | None:
    """The id of the stock cell of the same release (same Python, same other pins) for a cell that pins
    another build of a package (intel-tensorflow, tensorflow-gpu: `pins_as` in the catalogue), else None."""
    from .cells import cell_id

    packages = matrix.shared.get("packages", {})
    reqs = list(result.get("requirements", {}).items())
    swapped = [(packages.get(name, {}).get("pins_as", name), version) for name, version in reqs]
    if swapped == reqs or not all(name in packages for name, _ in swapped):
        return None
    return cell_id(result["python"], swapped, packages)


def beside_stock(matrix, results: list[dict]) -> list[dict]:
    """Throughput of each non-stock build next to the stock build of the same release, both measured."""
    by_id = {r["id"]: r for r in results}
    out = []
    for r in results:
        peer = by_id.get(stock_peer(matrix, r) or "")
        ours, theirs = r.get("throughput") or {}, (peer or {}).get("throughput") or {}
        if ours.get("status") == "measured" and theirs.get("status") == "measured":
            out.append({"cell": r["id"], "images_per_sec": ours["images_per_sec"], "stock_cell": peer["id"],
                        "stock_images_per_sec": theirs["images_per_sec"],
                        "ratio": round(ours["images_per_sec"] / theirs["images_per_sec"], 2)})
    return out


def pins_in_force(cells) -> list[dict]:
    """Every constraint pin of this run: why it exists, which cells it applies to, who added it, and, for a pin
    that has some, what it knowingly leaves open there (`leaves`, the known residual: failure, opt_in, why_not,
    when, cells)."""
    out: dict[str, dict] = {}
    for cell in cells:
        for c in cell.constraints:
            entry = out.setdefault(c.pin, {"pin": c.pin, "reason": c.reason, "origin": c.origin, "cells": []})
            entry["cells"].append(cell.id)
            if c.leaves:
                _add_leaves(entry.setdefault("leaves", []), c.leaves, cell.id)
    return list(out.values())


def known_residual(members) -> list[dict]:
    """What the pins of a recommended set knowingly leave open in its cells (matrix key `leaves`): each with its
    pin, the failure, the pin a user could add to close it (`opt_in`, "" when none does) and why tfpin does not."""
    out: list[dict] = []
    for cell in members:
        for c in cell.constraints:
            _add_leaves(out, c.leaves, cell.id, pin=c.pin)
    return out


def _add_leaves(into: list[dict], leaves, cell_id: str, **extra) -> None:
    for leave in leaves:
        fields = {**extra, **leave.describe()}
        entry = next((e for e in into if all(e[k] == v for k, v in fields.items())), None)
        if entry is None:
            entry = {**fields, "cells": []}
            into.append(entry)
        entry["cells"].append(cell_id)


def no_recommendation(why: str) -> dict:
    return {"requirements": None, "python": [], "constraints": [], "summary": why, "rejected_newer": [],
            "known_residual": []}


def attach_bench(results: list[dict], bench: dict) -> None:
    """Throughput only where it was measured for this very cell definition, on a finite loss."""
    for r in results:
        r.pop("throughput", None)
        b = bench.get(r["id"])
        if b and b.get("stamp") == r.get("stamp") and (b.get("status") != "measured" or b.get("loss_finite")):
            r["throughput"] = b


def merge_bench(rep: dict, matrix, bench: dict) -> None:
    """Attach bench figures to a report and redo what is derived from them (throughput beside stock): at build time,
    and again when `tfpin bench`, run after `tfpin matrix`, updates the written report."""
    attach_bench(rep["cells"], bench)
    rep["beside_stock"] = beside_stock(matrix, rep["cells"])


def check_result(path: Path, cell, current_stamp: str, sources: str | None = None, version: str | None = None):
    """(problem or '', result): a stored result joins a report only if it is whole, for this definition, unfiltered,
    of these sources (`sources`: their digest now) and made by this tfpin (`version`)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        return "%s: unreadable (%s)" % (path, exc), None
    if not isinstance(data, dict) or data.get("id") != cell.id or data.get("status") not in STATUSES:
        return "%s: not a tfpin result for cell %s" % (path, cell.id), None
    if data.get("stamp") != current_stamp:
        old, wanted = data.get("definition") or {}, cell.definition()
        diffs = ["%s: %s -> %s" % (k, old.get(k), wanted[k]) for k in wanted if old.get(k) != wanted[k]]
        return ("%s: produced for another definition of %s (stamp %s, the matrix now gives %s%s)"
                % (path, cell.id, data.get("stamp"), current_stamp,
                   "; " + "; ".join(diffs) if diffs else "")), None
    if data.get("selection"):
        return ("%s: a filtered run (pytest args %s), not the full suite" % (path, " ".join(data["selection"]))), None
    if data.get("finished") is None or data.get("status") == "interrupted":
        return "%s: the run of %s did not finish" % (path, cell.id), None
    made = data.get("harness") or {}
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
        for cell in members:  # every Python this evidence set asks for must have passed in it
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
            "python": [c.python for c in members if by_id[c.id]["status"] == PASSED],
            "cells": [c.id for c in members],
            "constraints": pin_lines(members),
            "summary": "%s on Python %s" % (label, ", ".join(c.python for c in members)),
            "rejected_newer": rejected,
            "known_residual": known_residual(members),
        }
    return {"requirements": None, "python": [], "constraints": [],
            "summary": "no requirement set passed on every Python of this matrix", "rejected_newer": rejected,
            "known_residual": []}


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
    """matrix.md. Every string a test, an installer or a cell produced goes through mdtext (text, code)."""
    rows = [
        "# tfpin matrix %s" % code(report["matrix"], in_table=False),
        "",
        "%s. Started %s, %s." % (
            report["description"] or report["matrix_file"], report["started"],
            "finished " + report["finished"] if report["finished"] else
            "**interrupted**" if report.get("interrupted") else "**still running or interrupted**"),
        "",
        "| cell | status | passed | failed | errors | skipped | setup s | tests s | tensorflow | keras | %s | img/s |"
        % " | ".join(MD_VERSIONS),
        "|---|---|--:|--:|--:|--:|--:|--:|---|---|%s|--:|" % "|".join("---" for _ in MD_VERSIONS),
    ]
    for r in report["cells"]:
        t, d, res = r["tests"], r["durations"], r.get("resolved", {})
        shown = r["status"] + (" (cached)" if r.get("cached_from") else "")
        rows.append("| %s | %s | %s | %s | %s | %s | %.1f | %.1f | %s | %s | %s | %s |" % (
            code(r["id"]), shown, t["passed"], t["failed"], t["errors"], t["skipped"], d["setup_s"], d["tests_s"],
            text(tensorflow_build(r)), text(res.get("keras", r.get("keras") or "")),
            " | ".join(text(res.get(k, "")) for k in MD_VERSIONS), throughput_cell(r.get("throughput"))))
    missing = [c for c in report["cells_planned"] if c not in {r["id"] for r in report["cells"]}]
    for cid in missing:
        rows.append("| %s | not run | | | | | | | | | %s | |" % (code(cid), " | ".join("" for _ in MD_VERSIONS)))
    if report.get("migration"):
        rows += migration_markdown(report["migration"])
    notes = [r for r in report["cells"] if r["status"] != PASSED]
    if notes:
        rows += ["", "## Cells that did not pass", ""]
        for r in notes:
            rows.append("- %s **%s**: %s" % (code(r["id"], in_table=False), r["status"], text(r["reason"])))
    off = [p for p in report.get("pairs", []) if not p["in_table"]]
    if off and any(p["in_table"] for p in report.get("pairs", [])):  # only where the matrix overlaps the table
        rows += ["", "## Off-table pairs", "", "Pairs the user's table does not list, judged on every Python run:", ""]
        for p in off:
            cells = ", ".join("%s %s" % (code(cid, in_table=False), status) for cid, status in p["cells"].items())
            pair = ", ".join("%s %s" % kv for kv in p["requirements"].items())
            line = "- %s: **%s** (%s)" % (pair, p["verdict"], cells)
            if p["failing"]:
                line += "; failing: " + ", ".join(text(t) for t in p["failing"][:8]) + (
                    " ..." if len(p["failing"]) > 8 else "")
            rows.append(line)
    if report.get("beside_stock"):
        rows += ["", "## Throughput beside stock TensorFlow", "",
                 "Training img/s (`nox -s bench`) of each other build next to the stock build of the same release:",
                 "", "| cell | img/s | stock cell | img/s | ratio |", "|---|--:|---|--:|--:|"]
        for b in report["beside_stock"]:
            rows.append("| %s | %.0f | %s | %.0f | %.2fx |" % (code(b["cell"]), b["images_per_sec"],
                                                           code(b["stock_cell"]), b["stock_images_per_sec"],
                                                           b["ratio"]))
    pins = report.get("pins", [])
    if pins:
        rows += ["", "## Pins", "", "| pin | why (the failure measured without it) | cells | added by |",
                 "|---|---|---|---|"]
        planned = len(report["cells_planned"])
        for p in pins:
            where = "all %d" % planned if len(p["cells"]) == planned else ", ".join(code(c) for c in p["cells"])
            rows.append("| %s | %s | %s | %s |" % (code(p["pin"]), text(p["reason"]), where,
                                               "discovery" if p["origin"] == "discovered" else "a person"))
            for leave in p.get("leaves") or []:  # under its pin: what it knowingly leaves open (matrix `leaves`)
                cells = "all %d" % planned if len(leave["cells"]) == planned else ", ".join(
                    code(c) for c in leave["cells"])
                rows.append("| ↳ known residual | %s | %s | |" % (residual_markdown(leave), cells))
    if report.get("cross"):
        from .cross import markdown as cross_markdown

        rows += cross_markdown(report["cross"])
    rec = report["recommendation"]
    rows += ["", "## Recommended pin" + (" (partial evidence)" if report.get("partial") else ""), ""]
    if rec["requirements"]:
        # requirement lines tfpin wrote from the matrix's pins (no backticks): raw, to copy from the fence
        rows += ["%s." % text(rec["summary"]), "", "```", *rec["constraints"], "```"]
        if rec.get("known_residual"):
            rows += ["", "Known residual (failures these pins knowingly leave open):", ""]
            for leave in rec["known_residual"]:
                only = "" if len(leave["cells"]) == len(rec["cells"]) else " (only %s)" % ", ".join(
                    code(c, in_table=False) for c in leave["cells"])
                rows.append("- %s%s: %s" % (code(leave["pin"], in_table=False), only,
                                            residual_markdown(leave, in_table=False)))
    else:
        rows.append("None: %s." % text(rec["summary"]))
    if rec["rejected_newer"]:
        rows += ["", "Newer choices not recommended:", ""]
        rows += ["- %s: %s" % (", ".join("%s %s" % kv for kv in x["requirements"].items()), text(x["why"]))
                 for x in rec["rejected_newer"]]
    return "\n".join(rows) + "\n"


def residual_markdown(leave: dict, in_table: bool = True) -> str:
    """A known residual as one line: the failure, then the pin a user could add and why tfpin does not."""
    failure = text(leave["failure"]).rstrip(".")
    if leave.get("opt_in"):
        return "%s. Opt-in pin: %s; tfpin does not add it: %s" % (failure, code(leave["opt_in"], in_table),
                                                                  text(leave["why_not"]))
    return "%s. No opt-in pin: %s" % (failure, text(leave["why_not"]))


def migration_markdown(cost: list[dict]) -> list[str]:
    rows = ["", "## Migration cost", "",
            "What moving the suite to each release costs: tests that fail there, tests that cannot apply (and "
            "why), and what its tests report they needed.", ""]
    for c in cost:
        rows.append("### %s: %s" % (code(c["cell"], in_table=False), c["status"]))
        rows.append("")
        if c["failing"]:
            rows.append("- fails (%d): %s" % (len(c["failing"]), ", ".join(code(t, in_table=False)
                                                                           for t in c["failing"][:12])
                                               + (" ..." if len(c["failing"]) > 12 else "")))
        elif c["status"] != PASSED and c["reason"]:
            rows.append("- %s" % text(c["reason"]))
        for reason, count in c["skipped"]:
            rows.append("- skipped %d: %s" % (count, text(reason)))
        for note in c["notes"]:
            rows.append("- %s" % text(note))
        if not (c["failing"] or c["skipped"] or c["notes"]) and c["status"] == PASSED:
            rows.append("- nothing: every test passed unchanged")
        rows.append("")
    return rows


def tensorflow_build(r: dict) -> str:
    """The TensorFlow the cell imported, naming a build other than stock (intel, gpu)."""
    res = r.get("resolved", {})
    for name, label in (("intel-tensorflow", "intel"), ("tensorflow-gpu", "gpu")):
        if name in res:
            return "%s (%s)" % (res[name], label)
    return res.get("tensorflow", r.get("tensorflow") or "")


def throughput_cell(tp) -> str:
    if not tp or tp.get("status") != "measured":
        return ""
    value = "%.0f" % tp["images_per_sec"]
    if tp.get("keras_images_per_sec"):
        value += " (fit %.0f)" % tp["keras_images_per_sec"]
    return value


def write(report: dict, reports_dir: Path, name: str = "matrix") -> None:
    """<name>.json, <name>.md and <name>.html, each replaced atomically."""
    from .html import render

    write_atomic(Path(reports_dir) / (name + ".json"), json.dumps(report, indent=2) + "\n")
    write_atomic(Path(reports_dir) / (name + ".md"), markdown(report))
    write_atomic(Path(reports_dir) / (name + ".html"), render(report))


def load_bench(reports_dir: Path) -> dict:
    out = {}
    for path in sorted((Path(reports_dir) / "bench").glob("*.json")):
        try:
            out[path.stem] = json.loads(path.read_text())
        except ValueError:
            continue
    return out
