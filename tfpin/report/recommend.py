"""The decision: which requirement set to pin, with which lines, and what the pins leave open.

Apart from the views (tfpin/report/markdown.py, tfpin/report/html.py) so that what is recommended is decided once,
from the results, and every view shows the same decision.
"""
from __future__ import annotations

from packaging.version import Version

from tfpin.cell.result import CellResult
from tfpin.cell.status import PASSED, UNAVAILABLE


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


def group_cells(cells) -> dict[tuple, list]:
    """Cells by requirement set: the members of one pinnable choice, one per Python."""
    groups: dict[tuple, list] = {}
    for cell in cells:
        groups.setdefault(cell.group, []).append(cell)
    return groups


def verdicts(cells, results: list[CellResult], table_groups) -> list[dict]:
    """One verdict per requirement set (a TF/Keras pair), across the Pythons it was run on."""
    by_id = {r.id: r for r in results}
    groups = group_cells(cells)
    out = []
    for group, members in groups.items():
        statuses = {c.id: by_id[c.id].status if c.id in by_id else "not run" for c in members}
        failing = [t for c in members if c.id in by_id for t in by_id[c.id].failing]
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


def recommend(cells, results: list[CellResult]) -> dict:
    """The newest requirement set whose cells passed on every Python this matrix asks for."""
    by_id = {r.id: r for r in results}
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
            elif r.status != PASSED:
                problems.append("%s %s" % (cell.id, r.status))
        label = " + ".join("%s %s" % kv for kv in group)
        if problems:
            rejected.append({"requirements": dict(group), "why": "; ".join(problems)})
            continue
        flaky = sum(by_id[c.id].tests.flaky for c in members)
        return {
            **{name: version for name, version in group},
            "requirements": dict(group),
            "python": [c.python for c in members if by_id[c.id].status == PASSED],
            "cells": [c.id for c in members],
            "constraints": pin_lines(members),
            "summary": "%s on Python %s%s" % (label, ", ".join(c.python for c in members),
                                              ", passed with %d flaky test%s" % (flaky, "s" * (flaky != 1))
                                              if flaky else ""),
            "rejected_newer": rejected,
            "known_residual": known_residual(members),
        }
    return {"requirements": None, "python": [], "constraints": [],
            "summary": "no requirement set passed on every Python of this matrix", "rejected_newer": rejected,
            "known_residual": []}


def pin_lines(members) -> list[str]:
    """requirements.txt lines; a pin needed on only some Pythons gets an environment marker."""
    lines = ["%s==%s" % kv for kv in members[0].group]
    order: list = []
    where: dict = {}
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
