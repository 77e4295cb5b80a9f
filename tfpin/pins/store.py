"""Pin discovery's stored results: one record per cell (reports/pins/<cell>.json and .toml), made so that a
later `tfpin pins apply` (a CI job after one discovery job per cell) refuses a record made for another cell."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypedDict

from tfpin.config.context import now
from tfpin.pins.proposal import constraint_blocks, toml_blocks


class Search(TypedDict, total=False):
    """One cell's discovery as stored in reports/pins/<cell>.json: the cell and the basis it must still match to be
    applied (record()), then what the search found (Discovery.run) or why it could not run (pinstore.failed)."""
    cell: str
    python: str
    requirements: dict[str, str]
    oracle: list[str]
    basis: dict[str, Any]
    unavailable: str
    era: str | None
    problem: str
    hints: list[str]
    pins: list[dict[str, str]]
    final_set: dict[str, str]
    env_builds: int
    trials_reused: int
    seconds: float
    trials: list[dict[str, Any]]


class DiscoveryError(Exception):
    """Discovery cannot proceed for this cell; the message says why."""


class CellUnavailable(DiscoveryError):
    """The installer says a pinned release has no build for this Python: nothing to discover, nothing wrong."""


def record(cell, ctx, oracle) -> Search:
    """What every result starts with: the cell and the `basis` that decided the search.

    `basis` is what a stored result must still match to be applied later (`tfpin pins apply`): the cell's
    Python, exact pins, tools and install lines, the oracle and the confirming suite. The matrix's own
    constraints are not in it: discovery starts from none of them.
    """
    basis = {"python": cell.python, "requirements": cell.requirement_lines(), "install": list(cell.install),
             "oracle": list(oracle), "test": list(ctx.project.test)}
    return {"cell": cell.id, "python": cell.python, "requirements": dict(cell.requirements), "oracle": list(oracle),
            "basis": basis, "unavailable": ""}


def failed(cell, ctx, oracle, exc: DiscoveryError) -> Search:
    """The record of a cell whose discovery could not run (the same keys as Discovery.run's)."""
    res = record(cell, ctx, oracle)
    res["era"], res["problem"], res["pins"], res["final_set"] = None, "", [], {}
    res["env_builds"], res["seconds"], res["trials"] = 0, 0.0, []
    res["unavailable" if isinstance(exc, CellUnavailable) else "problem"] = str(exc)
    return res


def cell_toml(res: Search, cell) -> str:
    """reports/pins/<cell>.toml: the proposal for one cell, for review."""
    problem = "\n# PROBLEM: " + res["problem"] if res["problem"] else ""
    if res.get("unavailable"):
        problem = "\n# UNAVAILABLE (nothing to discover): " + res["unavailable"]
    return "# tfpin pins discover, %s, %s: %d env builds, %.0f s%s\n\n%s" % (
        res["cell"], now(), res["env_builds"], res["seconds"], problem, toml_blocks(constraint_blocks([res], [cell])))


class StoredResultError(Exception):
    """A stored result cannot be applied: missing, unreadable, or made for another basis."""


def load_results(out_dir: Path, cells, ctx, oracle) -> list[dict]:
    """The stored per-cell results of `cells`, each checked against what the cell is now (CI fan-out: one
    job per cell discovers, one job applies). A stale or missing result is refused, never merged."""
    results, problems = [], []
    for cell in cells:
        path = out_dir / (cell.id + ".json")
        rerun = "run `tfpin pins discover --cells %s`" % cell.id
        try:
            res = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            problems.append("%s: no result at %s; %s" % (cell.id, path, rerun))
            continue
        except (OSError, ValueError) as exc:
            problems.append("%s: %s is unreadable (%s); %s" % (cell.id, path, exc, rerun))
            continue
        want = record(cell, ctx, oracle)["basis"]
        have = res.get("basis") if isinstance(res, dict) else None
        if not isinstance(have, dict) or have != want:
            differ = sorted(k for k in want if not isinstance(have, dict) or have.get(k) != want[k])
            problems.append("%s: %s was made for another cell definition (differs in: %s); %s"
                            % (cell.id, path, ", ".join(differ), rerun))
            continue
        results.append(res)
    if problems:
        raise StoredResultError("cannot apply stored pin discoveries:\n  " + "\n  ".join(problems))
    return results
