"""What the trials of one `tfpin pins discover` run share, so the search costs less than one trial after another:

- the cores (schedule.Cores): every trial holds the cores its oracle kept busy in this run's earlier trials
  (load.Meter; one per core until measured), so trials of different cells overlap as far as the cores
  feed and a full-suite confirmation that feeds two cores runs alone;
- the tests that failed: each failing trial's first failure joins a list that every later oracle runs first
  (cellplugin/tfpin_order.py), so a trial that fails the way an earlier one did stops within seconds;
- identical trials: the verdict of a trial is keyed by the cell's interpreter, the exact resolved set, the
  project's own install lines and trees, the oracle's arguments, the code under test, the variables that
  change behaviour and tfpin's plugins. A key seen before (in this run or a stored one, reports/pins/
  trials.json) is answered from that trial, logged as re-used, and builds nothing.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

from tfpin import environ, load, schedule
from tfpin.cell import cache
from tfpin.cell.incell import cell_environ
from tfpin.files import read_json, short_digest, write_atomic

VERDICTS = ("pass", "fail")  # facts about the key; "uninstallable" may be the index's mood of the day


def trusted(stored) -> dict:
    """The stored trials whose every field has its type; an edited or damaged entry is dropped (its trial runs
    again), never believed."""
    fields: dict[str, type | tuple[type, ...]] = {"verdict": str, "error": str, "seconds": (int, float), "label": str,
                                                  "cell": str}
    if not isinstance(stored, dict):
        return {}
    return {key: entry for key, entry in stored.items()
            if isinstance(entry, dict) and entry.get("verdict") in VERDICTS
            and all(isinstance(entry[k], t) and not isinstance(entry[k], bool)
                    for k, t in fields.items() if k in entry)}


class Shared:
    def __init__(self, ctx, jobs: int | None, store: Path):
        self.ctx, self.jobs, self.store = ctx, jobs, store
        self.budget = schedule.Budget(jobs, load.Demands({"confirm": {"tests": ctx.project.cores}}, environ.cpus()),
                                      environ.cpus())
        self.lock = threading.Lock()
        self.failing: list[str] = []
        self.sources = cache.sources_digest(ctx)
        self.harness = cache.Inputs.harness_digest()  # read once: the plugins do not change mid-run
        self.known = trusted(read_json(store))
        self.reused = 0

    def describe(self) -> str:
        return self.budget.describe("trials", "one per core until measured")

    def hold(self, order, kind: str) -> schedule.Held:
        return self.budget.hold(order, kind, "tests")

    def learned(self, kind: str, demand) -> None:
        """A kind of trial (oracle, confirmation) holds what its last trial kept busy."""
        if demand:
            with self.lock:
                self.budget.demands.previous.setdefault(kind, {})["tests"] = demand

    def key(self, cell, interpreter_version: str, versions: dict, project_lines: list, args: list) -> str:
        data = {"python": interpreter_version, "set": sorted(versions.items()), "project": project_lines,
                "local": self.ctx.local, "args": list(args), "sources": self.sources,
                "timeout": self.ctx.project.timeout,
                "environ": cache.behaviour_environ(cell_environ(cell, self.ctx)),
                "harness": self.harness}
        return short_digest(data, 20)

    def lookup(self, key: str) -> dict | None:
        with self.lock:
            found = self.known.get(key)
            self.reused += found is not None
        return dict(found) if found is not None else None

    def remember(self, key: str, record: dict, cell_id: str) -> None:
        if record["verdict"] not in VERDICTS:
            return
        with self.lock:
            self.known[key] = {k: record[k] for k in ("verdict", "error", "seconds", "label") if k in record}
            self.known[key]["cell"] = cell_id
            for test in record.get("failing", [])[:1]:
                if test not in self.failing:
                    self.failing.append(test)
            write_atomic(self.store, json.dumps(self.known, indent=1, sort_keys=True) + "\n")

    def first(self) -> list[str]:
        with self.lock:
            return list(self.failing)

