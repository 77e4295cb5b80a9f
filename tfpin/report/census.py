"""The project's deprecation census across the matrix: which of its own call sites warn, on which releases.

Each cell's suite records the notices whose call site is the project's (cellplugin/tfpin_census.py,
kept in the result as `deprecations`); here they become one row per (call site, API) with the cells
and releases it warns on, the release it first appears on, and a count per cell. Rows are ordered
oldest notice first: what has been deprecated longest is what the next releases remove first.
"""
from __future__ import annotations

from packaging.version import InvalidVersion, Version

from tfpin import mdtext


def _release(requirements: dict) -> str:
    return " + ".join("%s %s" % kv for kv in requirements.items())


def _order(requirements: dict):
    try:
        return [Version(v) for v in requirements.values()]
    except InvalidVersion:
        return []


def build(results) -> dict | None:
    """The report's `census`, or None when no cell recorded one (a suite that never ran)."""
    counted = [r for r in results if r.deprecations is not None]
    if not counted:
        return None
    releases: dict = {}
    for r in sorted(counted, key=lambda r: _order(r.requirements)):
        releases.setdefault(_release(r.requirements), r.requirements)
    order = list(releases)
    sites: dict = {}
    for r in counted:
        for notice in r.deprecations:
            key = (notice.get("site", "?"), notice.get("api", "?"))
            entry = sites.setdefault(key, {"site": key[0], "api": key[1], "kind": notice.get("kind", ""),
                                           "instructions": notice.get("instructions", ""), "cells": [],
                                           "releases": []})
            entry["cells"].append(r.id)
            if _release(r.requirements) not in entry["releases"]:
                entry["releases"].append(_release(r.requirements))
    for entry in sites.values():
        entry["releases"].sort(key=order.index)
        entry["first_release"] = entry["releases"][0]
    rows = sorted(sites.values(), key=lambda e: (order.index(e["first_release"]), e["site"], e["api"]))
    return {"releases": order, "per_cell": {r.id: len(r.deprecations) for r in counted}, "sites": rows}


def markdown(census: dict) -> list[str]:
    rows = ["", "## Deprecation census", "",
            "The project's own call sites that TensorFlow or Python warned about while the suite ran, oldest first "
            "(%d distinct; per cell: %s):" % (len(census["sites"]), ", ".join(
                "%s %d" % (mdtext.code(cid, in_table=False), n) for cid, n in census["per_cell"].items())), ""]
    if not census["sites"]:
        return rows[:-1] + ["None: no deprecated API is called from the project's code on these releases."]
    rows += ["| call site | API | first on | warns on | instructions |", "|---|---|---|---|---|"]
    for s in census["sites"]:
        rows.append("| %s | %s | %s | %d of %d releases | %s |" % (
            mdtext.code(s["site"]), mdtext.text(s["api"]), mdtext.text(s["first_release"]), len(s["releases"]),
            len(census["releases"]), mdtext.text(s["instructions"])))
    return rows
