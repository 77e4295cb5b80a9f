"""`tfpin drift`, one cell: what the index offers today against the cell's last lock, and what that does.

A pin breaks without anyone touching the project: a release appears on the index and the cell that resolved
yesterday resolves differently today. Here the cell's definition (its exact requirements, the test tools, the
project's install lines, its constraint pins) is resolved afresh by the installer (`uv pip compile`, which reads
no lock), and the resolved set is diffed against the lock its last `tfpin matrix` run wrote (reports/locks/).

- The same set: the cell is unchanged, nothing runs.
- Another set: the suite runs on it in pin discovery's trial env (pins/search.py, never the cell's own env, lock or
  verdict). It passes: the cell can move on to the new versions. It fails where the lock passed: the lock itself
  is checked today first (its last run is the proof when it tested these sources; else one trial), and a lock that
  fails too is the project's change, not the index's. Otherwise the changed packages are the suspects, and pin
  discovery's own search finds which: all raised together from the locked set, a failing group halved until one
  package is varied alone, then bisected to its newest passing release (`Discovery._raise_group`, inside the
  cell's constraint pins); each one found is a pin (`name<first failing release`) with the first error seen.
Trials are keyed by the exact set they install (pins/trials.py), so a trial is never answered by one of another
set, whatever the index offered when it ran.
"""
from __future__ import annotations

import re
import time

from tfpin import procs
from tfpin.cell.envs import EnvLock
from tfpin.cell.interpreters import find
from tfpin.cell.status import PASSED
from tfpin.pins.search import Discovery
from tfpin.pins.store import DiscoveryError

UNCHANGED = "unchanged"
MOVES_ON = "can move on"  # today's set passes the suite
BREAKS = "breaks"  # the lock passed, today's set fails (or does not resolve)
STILL_FAILS = "still fails"  # the lock did not pass, and today's set fails too
LOCK_FAILS = "fails with its lock"  # the lock passed in its last run, fails today: the project changed, not the index
NO_LOCK = "no lock"  # nothing to compare with: the cell has no usable last run
UNAVAILABLE = "unavailable"  # no interpreter for the cell's Python on this machine
PROBLEM = "problem"  # the check could not be made (the index did not answer, no trial env)
# A path into a trial env's site-packages says where in the package, not where the scratch env was.
SITE = re.compile(r'[^\s"\']*/site-packages/')
# uv's words when the index answered and no set satisfies the definition (anything else is not a fact of the index).
NO_SOLUTION = "No solution found when resolving"
# What the stdlib-venv fallback makes an env with: in its lock, never in a resolution.
SEEDED = ("pip", "setuptools", "wheel", "distribute")


def comparable(locked: dict, today: dict) -> dict:
    """The lock less the packages a venv is made with that today's resolution does not name."""
    return {name: v for name, v in locked.items() if name in today or name not in SEEDED}


def changes(locked: dict, today: dict) -> list[dict]:
    """What moved between the two sets: [{package, locked, today}] by name; None where one set lacks it."""
    return [{"package": name, "locked": locked.get(name), "today": today.get(name)}
            for name in sorted(set(locked) | set(today)) if locked.get(name) != today.get(name)]


def entry(cell, status: str, **fields) -> dict:
    """One cell's drift record: every key always present, so drift.json has one shape."""
    out = {"cell": cell.id, "python": cell.python, "status": status, "last_verdict": None, "lock": None,
           "changes": [], "error": "", "pins": [], "moves": [], "trials": [], "seconds": 0.0}
    out.update(fields)
    return out


class CellDrift:
    """The drift of one cell whose last run left `locked` (name -> version) with verdict `last_verdict`."""

    def __init__(self, cell, ctx, shared, log, order: int = 0):
        self.cell = cell
        self.search = Discovery(cell, ctx, list(ctx.project.test) or ["."], log, shared=shared, order=order,
                                bounds=cell.constraint_lines())

    def run(self, locked: dict, last_verdict: str, lock: str) -> dict:
        started = time.monotonic()
        s = self.search
        try:
            s.interpreter, s.interpreter_version = find(self.cell.python)
        except LookupError as exc:
            return entry(self.cell, UNAVAILABLE, error=str(exc), last_verdict=last_verdict, lock=lock)
        s.root.mkdir(parents=True, exist_ok=True)
        with EnvLock(s.root, s.log):
            try:
                found = self._check(locked, last_verdict)
            except DiscoveryError as exc:  # the trial env could not be made: the cell's problem, said
                found = {"status": PROBLEM, "error": str(exc)}
        found.update(last_verdict=last_verdict, lock=lock, seconds=round(time.monotonic() - started, 1),
                     trials=[{k: t[k] for k in ("label", "verdict", "seconds", "error", "reused_from") if k in t}
                             for t in s.trials])
        return entry(self.cell, found.pop("status"), **found)

    def _check(self, locked: dict, last_verdict: str) -> dict:
        s = self.search
        today, why = s.compile(s._requirements())
        if today is None and NO_SOLUTION not in why:  # the index did not answer, or the installer failed
            return {"status": PROBLEM, "error": "the installer could not resolve today's set: " + procs.head(why)}
        if today is None:
            status = BREAKS if last_verdict == PASSED else STILL_FAILS
            return {"status": status, "error": "today's definition does not resolve: " + procs.head(why)}
        locked = comparable(locked, today)
        moved = changes(locked, today)
        s.log("%s: %s" % (self.cell.id, describe_changes(moved) or "resolves to its lock"))
        if not moved:
            return {"status": UNCHANGED}
        rec = s.trial(today, "today's set")
        if rec["verdict"] == "pass":
            return {"status": MOVES_ON, "changes": moved, "moves": moved}
        if last_verdict != PASSED:
            return {"status": STILL_FAILS, "changes": moved, "error": _error(rec)}
        failed = self._lock_fails(locked)
        if failed is not None:
            return {"status": LOCK_FAILS, "changes": moved, "error": "its lock fails today too (so the project "
                    "changed, not the index): " + _error(failed)}
        return {"status": BREAKS, "changes": moved, "error": _error(rec), **self._holding(locked, moved)}

    def _lock_fails(self, locked: dict) -> dict | None:
        """The lock's trial when it fails today, else None. The last run is the proof when it tested these sources
        with this tfpin on exactly this set (pin discovery's rule); otherwise one trial of the lock."""
        s = self.search
        if s._confirmed_by_the_matrix(locked, "the lock (its last run)") is not None:
            return None
        rec = s.trial(locked, "the lock today")
        return None if rec["verdict"] == "pass" else rec

    def _holding(self, locked: dict, moved: list[dict]) -> dict:
        """The pins that hold the cell: the changed packages raised from the lock by pin discovery's search;
        `moves`: what may still move on with those pins in force."""
        current: dict = dict(locked)
        pins: dict = {}
        suspects = [c["package"] for c in moved if c["locked"] and c["today"]]
        self.search._raise_group(suspects, current, pins)
        found = [dict(pin, reason=SITE.sub("site-packages/", pin["reason"])) for pin in pins.values()]
        return {"pins": found, "moves": changes(locked, current)}


def _error(trial: dict) -> str:
    return SITE.sub("site-packages/", trial.get("error", "")) or trial["verdict"]


def describe_changes(moved: list[dict]) -> str:
    return ", ".join("%s %s -> %s" % (c["package"], c["locked"] or "(none)", c["today"] or "(gone)") for c in moved)


def describe(found: dict) -> str:
    """The cell's one line for the console."""
    status = found["status"]
    if status == UNCHANGED:
        return "unchanged: today's index resolves the cell to its lock"
    if status == MOVES_ON:
        return "can move on: passes with " + describe_changes(found["moves"])
    if status == BREAKS:
        pins = "; ".join("the pin %s holds it (%s passes, %s breaks)" % (p["pin"], p["last_good"], p["first_bad"])
                         for p in found["pins"]) or "no single package's pin holds it: keep the lock"
        return "BREAKS with %s: %s -- %s" % (describe_changes(found["changes"]) or "today's index", found["error"],
                                             pins)
    if status == LOCK_FAILS:
        return "FAILS with its lock too: " + found["error"]
    if status == STILL_FAILS:
        return "still fails (its last run did not pass): %s" % found["error"]
    return "%s: %s" % (status, found["error"])


def breaks(found: dict, skip_missing: bool) -> bool:
    """Whether this cell makes the drift run red: a cell that passed breaks, or could not be checked."""
    if found["status"] == UNAVAILABLE:
        return not skip_missing
    return found["status"] in (BREAKS, LOCK_FAILS, PROBLEM)
