"""`tfpin matrix --floors`: whether the lowest releases the project's own install lines allow still pass its suite.

A line such as `scikit-learn>=0.20` promises that 0.20 works; nobody who installs the newest ever tests that. The
lines are the project's install lines and, when those install its own tree (`"."`, `".[tests]"`), the requirements
its own metadata declares (setup.py's `numpy>=1.9.1`, as the build wrote it into the cell: cell/metadata.py). A
line with no lower bound declares no floor and is held at the newest release. For each cell that passed, the lines
are resolved at their lowest allowed releases (uv's `lowest-direct` resolution, which lowers the project's own
requirements too), with the cell's exact pins and constraint pins, and the suite runs on that set. When it
fails, each line is tried alone at its floor (the others as the newest resolution has them); a floor that fails is
bisected over the releases between it and the newest, as pin discovery does, to the lowest release that passes.
Trials are pin discovery's (pins/search.py: one trial env per cell, identical trials answered once).
"""
from __future__ import annotations

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tfpin.cell import index, metadata
from tfpin.cell.envs import EnvLock
from tfpin.cell.incell import cell_environ
from tfpin.cell.interpreters import find
from tfpin.pins.search import Discovery, install_requirements
from tfpin.pins.store import DiscoveryError

LOWEST = ["--resolution", "lowest-direct"]
LOWER_BOUNDS = (">=", ">", "~=")


def direct_lines(cell, ctx) -> list[tuple[Requirement, str]]:
    """What the project asks for directly in this cell, with where it says so: its install lines that name a
    package, then its own distribution's requirements for the extras those lines request."""
    out = [(req, "install line") for req in install_requirements(cell)]
    extras = metadata.requested_extras(cell.install)
    if extras is not None:
        python = ctx.layout.env(cell.id) / "bin" / "python"  # the cell passed: its env holds the project as built
        meta = metadata.installed(python, ctx.project.root, dict(cell_environ(cell, ctx)))
        if meta is not None:
            out += [(req, "%s's requirements" % (meta.name or "the project"))
                    for req in meta.requirements(cell.python, extras)]
    return out


def has_floor(req: Requirement) -> bool:
    """A range with a lower bound; an exact release is a pin, not a floor, and a bare name promises nothing."""
    ops = {s.operator for s in req.specifier}
    return bool(ops & set(LOWER_BOUNDS)) and not ops & {"==", "==="}


def run(cells, results, ctx, reporter) -> list[dict]:
    """The floors of every passed cell's install lines, the cells' searches side by side as the cores allow (their
    trials share one budget and identical trials, as pin discovery's do)."""
    from tfpin import events, schedule
    from tfpin.environ import cpus
    from tfpin.pins.trials import Shared

    passed = [c for c in cells if any(r.id == c.id and r.status == "passed" for r in results)]
    shared = Shared(ctx, None, ctx.layout.pins / "floors-trials.json")

    def one(i, cell):
        def log(text):
            reporter.emit(events.CellNote(i + 1, len(passed), cell.id, text, detail=True))

        reporter.emit(events.CellStarted(i + 1, len(passed), cell.id, "floors of the install lines"))
        try:
            found = CellFloors(cell, ctx, log, shared).run()
        except DiscoveryError as exc:  # no trial env, an index that does not answer: said, and the floor unproven
            found = {"cell": cell.id, "lines": [], "problem": str(exc)}
        reporter.emit(events.CellFinished(i + 1, len(passed), cell.id, describe(found)))
        return found

    done, stop = schedule.run(one, passed, 2 * cpus())
    if stop is not None:
        raise stop
    return [done[i] for i in range(len(passed))]


def describe(found: dict) -> str:
    if found["problem"]:
        return "floors: " + found["problem"]
    if not found["lines"]:
        return "floors: no line names a lower bound (install lines, the project's own requirements)"
    return "floors: " + "; ".join(
        "%s holds at %s" % (e["line"], e["floor"]) if e["holds"] else
        "%s breaks at %s (lowest passing: %s)" % (e["line"], e["floor"], e.get("lowest_passing") or "none")
        for e in found["lines"])


def broken(floors: list[dict]) -> list[str]:
    """The lines whose floor fails (or could not be checked), as 'cell: line': what makes the run red."""
    return ["%s: %s" % (f["cell"], e["line"]) for f in floors for e in f["lines"] if not e["holds"]] + [
        "%s: %s" % (f["cell"], f["problem"]) for f in floors if f["problem"]]


class CellFloors:
    """The floors of one cell's install lines: [{line, package, floor, newest, holds, error?, lowest_passing?}]."""

    def __init__(self, cell, ctx, log, shared):
        self.cell = cell
        self.search = Discovery(cell, ctx, list(ctx.project.test) or ["."], log, shared=shared)

    def run(self) -> dict:
        s, cell = self.search, self.cell
        out: dict = {"cell": cell.id, "lines": [], "problem": ""}
        direct = direct_lines(cell, s.ctx)
        lines = [(req, where) for req, where in direct if has_floor(req)]
        if not lines:
            return out
        s.interpreter, s.interpreter_version = find(cell.python)
        s.root.mkdir(parents=True, exist_ok=True)
        with EnvLock(s.root, s.log):
            reqs, cons = s._requirements(), cell.constraint_lines()
            newest, err = s.compile(reqs, cons)
            # a line with no floor stays where the newest resolution has it: lowest-direct would take its first
            # release ever, which the project never promised
            held = ["%s==%s" % (canonicalize_name(r.name), newest[canonicalize_name(r.name)]) for r, _ in direct
                    if newest and not has_floor(r) and canonicalize_name(r.name) in newest]
            lowest, err2 = s.compile(reqs, cons + held, LOWEST)
            if newest is None or lowest is None:
                out["problem"] = "cannot resolve the install lines: %s" % (err or err2).strip()[-300:]
                return out
            every = s.trial(lowest, "every install line at its floor")
            for req, where in lines:
                name = canonicalize_name(req.name)
                entry = {"line": str(req), "from": where, "package": name, "floor": lowest.get(name),
                         "newest": newest.get(name)}
                entry.update({"holds": True} if every["verdict"] == "pass" else self._one(name, entry, reqs, cons))
                out["lines"].append(entry)
        return out

    def _one(self, name: str, entry: dict, reqs: list, cons: list) -> dict:
        """This line alone at its floor; when that fails, the lowest release that passes."""
        s, floor, newest = self.search, entry["floor"], entry["newest"]
        if floor is None or floor == newest:
            return {"holds": True}
        at_floor, why = s.compile(reqs + ["%s==%s" % (name, floor)], cons)
        if at_floor is None:
            return {"holds": False, "error": "not installable at %s with the cell's pins: %s" % (
                floor, why.strip()[-200:]), "lowest_passing": None}
        first = s.trial(at_floor, "%s at its floor %s" % (name, floor))
        if first["verdict"] == "pass":
            return {"holds": True}
        versions = index.candidates(name, self.cell.python, floor, newest)
        lowest_passing = None
        lo, hi = 0, len(versions)  # versions[:lo] fail, versions[hi:] pass (the newest is what the cell ran)
        while lo < hi:
            mid = (lo + hi) // 2
            resolved, _ = s.compile(reqs + ["%s==%s" % (name, versions[mid])], cons)
            rec = s.trial(resolved, "%s bisect %s" % (name, versions[mid])) if resolved is not None else None
            if rec is None or rec["verdict"] == "uninstallable":
                versions.pop(mid)
                hi -= 1
            elif rec["verdict"] == "pass":
                lowest_passing, hi = versions[mid], mid
            else:
                lo = mid + 1
        return {"holds": False, "error": first.get("error", ""), "lowest_passing": lowest_passing}
