"""`tfpin pins discover`: the constraint pins a cell needs, found by measurement rather than remembered.

Per cell:
1. Baseline: the cell resolved as of its pinned releases' upload date (`uv pip compile
   --exclude-newer`; the test tools' own dependencies are exempt, they are not the era's) must pass
   the cheap oracle, else discovery stops for that cell and says so.
2. One package at a time (every package of the resolved set except the cell's exact pins), from the
   newest-passing set: let uv raise it as far as the rest of the set allows; if the oracle still
   passes, keep it; if not, bisect the releases in between (the installer decides what is
   installable) to the newest passing release, and propose `<package><first failing release` with
   the first error seen there as the reason. Rounds repeat until nothing moves.
   Pins already known (the cell's constraints in force, and pins found for other cells earlier in
   the same run) are hints, never results: discovery first tries the newest set that respects them,
   then checks each hinted bound by installing the first release above it. A bound that still
   fails there is re-measured in one trial (with its own error as the reason); one that passes is
   searched upward as usual. A wrong or stale hint costs a trial, never a wrong pin.
3. The final set is confirmed by the project's full suite.
Every trial is logged (versions, verdict, seconds); env builds are `uv pip sync` of one trial env,
so uv's cache makes each a second or two.
"""
from __future__ import annotations

import datetime
import shutil
import tempfile
import time
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

from tfpin import load, procs
from tfpin.cell import index, installer
from tfpin.cell.envs import EnvLock, bytecode_on_import
from tfpin.cell.incell import cell_environ, last_error, pytest_command, read_junit
from tfpin.cell.installer import parse_freeze, uv_no_build
from tfpin.cell.interpreters import find
from tfpin.cell.status import PASSED, classify
from tfpin.cellplugin import tfpin_vars as var
from tfpin.files import write_atomic
from tfpin.pins.store import CellUnavailable, DiscoveryError, Search, record

ROUNDS = 2


def install_requirements(cell) -> list:
    """The project's install lines that name a package (not ".", "-e .", "-r file": its own tree), as packaging
    Requirements, those whose marker holds for this cell's Python."""
    from packaging.markers import default_environment
    from packaging.requirements import InvalidRequirement, Requirement

    env = dict(default_environment(), python_version=cell.python, python_full_version=cell.python + ".0")
    out = []
    for line in cell.install:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is None or req.marker.evaluate(env):
            out.append(req)
    return out


class Discovery:
    def __init__(self, cell, ctx, oracle: list[str], log, packages=None, hints=None, shared=None, order=0, bounds=()):
        """`shared`: what the trials of one run share (tfpin/pins/trials.py: cores, failing tests, identical trials);
        `order`: this cell's place in the matrix (its trials are served in that order); `bounds`: constraint lines
        every resolution keeps (drift searches inside the cell's pins; discovery has none: it measures them)."""
        from tfpin.pins.trials import Shared

        self.cell, self.ctx, self.oracle, self.log = cell, ctx, list(oracle), log
        self.shared = shared if shared is not None else Shared(ctx, 1, ctx.layout.pins / "trials.json")
        self.order = order
        self.hints = list(hints) if hints is not None else cell.constraint_lines()
        self.only = {canonicalize_name(p) for p in packages} if packages else None
        self.root = ctx.layout.trials(cell.id)
        self.env = self.root / "env"
        self.python = self.env / "bin" / "python"
        self.trials: list[dict] = []
        self.builds = 0
        self.bounds = list(bounds)

    # -- resolution ------------------------------------------------------------------------------------------
    def _requirements(self) -> list[str]:
        from tfpin.cell.envs import absolute_install_line

        return self.cell.requirement_lines() + [absolute_install_line(x, self.ctx.project.root)
                                                for x in self.cell.install]

    def _exact_in_install_lines(self) -> set:
        """Packages the project's install lines name at one exact release for this cell's Python: not to be moved."""
        return {canonicalize_name(req.name) for req in install_requirements(self.cell)
                if any(s.operator == "==" for s in req.specifier)}

    def compile(self, requirements, constraints=(), extra=()) -> tuple[dict | None, str]:
        """(exact set, '') or (None, the resolver's reason)."""
        with tempfile.TemporaryDirectory() as scratch:
            req, con = Path(scratch) / "req.in", Path(scratch) / "con.txt"
            req.write_text("\n".join(requirements) + "\n")
            con.write_text("\n".join(list(constraints) + self.bounds) + "\n")
            cmd = installer.compile(self.interpreter, req, con, extra)
            code, out = procs.run(cmd, cwd=self.ctx.project.root, timeout=600)
        if code != 0:
            return None, out or ""
        return parse_freeze(out), ""

    def era(self) -> datetime.datetime:
        """The day after the newest of the cell's exact pins was uploaded: the world it was born into."""
        dates = []
        for name, version in self.cell.requirements:
            when = index.released(name, version)
            if when is None:
                raise DiscoveryError("%s %s is not on the index %s" % (name, version, index.index_url()))
            dates.append(when)
        return max(dates) + datetime.timedelta(days=1)

    def baseline(self) -> dict:
        era = self.era()
        project = [x for x in self._requirements() if x not in self.cell.requirement_lines()]  # its install lines
        tools, err = self.compile(list(self.cell.tools) + project)
        stack, err2 = self.compile(["%s==%s" % kv for kv in self.cell.requirements])
        if stack is None:
            said = uv_no_build(err2, [name for name, _ in self.cell.requirements])
            if said:
                raise CellUnavailable("installer: " + said)
        if tools is None or stack is None:
            raise DiscoveryError("cannot resolve the cell as it is today: %s" % procs.head(err or err2))
        # Not of the era: the test tools and what the project's own install lines add beside the stack (the
        # project chose those releases), and any release an install line names exactly.
        exempt = sorted((set(tools) - set(stack)) | self._exact_in_install_lines())
        now = datetime.date.today().isoformat()
        extra = ["--exclude-newer", era.date().isoformat()]
        for name in exempt:
            extra += ["--exclude-newer-package", "%s=%s" % (name, now)]
        found, err = self.compile(self._requirements(), extra=extra)
        if found is None:
            raise DiscoveryError("cannot resolve the cell as of %s: %s" % (era.date(), procs.head(err)))
        self.era_date, self.exempt = era.date().isoformat(), exempt
        return found

    # -- trials ----------------------------------------------------------------------------------------------
    def trial(self, versions: dict, label: str, args=None) -> dict:
        """Install exactly `versions` into the trial env and run the oracle (or `args`); an identical trial
        measured before (this run or a stored one: tfpin/pins/trials.py) answers instead, building nothing."""
        args = list(args or self.oracle)
        kind = "confirm" if args != self.oracle else "oracle"
        project_lines = [x for x in self._requirements() if "==" not in x]  # project lines (".", -r ...) as given
        key = self.shared.key(self.cell, self.interpreter_version, versions, project_lines, args)
        record = self.shared.lookup(key)
        if record is not None:
            record.update(label=label, versions=dict(versions), reused_from=record.pop("cell", "?"),
                          measured_s=record.pop("seconds", 0.0), seconds=0.0)
            self.trials.append(record)
            self.log("  %-44s %-13s %5.1fs re-used: an identical trial of %s" % (
                label, record["verdict"], 0.0, record["reused_from"]))
            return record
        with self.shared.hold(self.order, kind):
            start = time.monotonic()
            record = self._build_and_run(versions, project_lines, args, kind)
            record["seconds"] = round(time.monotonic() - start, 1)
        record["label"] = label
        record["versions"] = dict(versions)
        self.shared.remember(key, record, self.cell.id)
        self.trials.append(record)
        self.log("  %-44s %-13s %5.1fs %s" % (label, record["verdict"], record["seconds"],
                                              record.get("error", "")[:110]))
        return record

    def _build_and_run(self, versions, project_lines, args, kind) -> dict:
        spec = self.root / "trial.txt"
        write_atomic(spec, "\n".join(["%s==%s" % kv for kv in sorted(versions.items())] + project_lines) + "\n")
        if not self.python.exists():
            code, out = procs.run(installer.create("uv", self.interpreter, self.env)[0], timeout=300)
            if code != 0:
                raise DiscoveryError("cannot create the trial env: %s" % (out or "").strip()[-300:])
            bytecode_on_import(self.env, lambda _text: None)
        code, out = procs.run(installer.sync(self.python, spec),
                              cwd=self.ctx.project.root, timeout=1800)
        self.builds += 1
        if code != 0:
            return {"verdict": "uninstallable", "error": (out or "").strip()[-300:]}
        with load.Meter() as meter:
            phase = meter.phase()
            record = self._oracle(args)
            self.shared.learned(kind, phase.end().figures()["demand"])
        return record

    def _oracle(self, args) -> dict:
        xml = self.root / "oracle.xml"
        if xml.exists():
            xml.unlink()
        log_path = self.root / "oracle.log"
        first = self.root / "first.txt"  # the tests earlier trials failed: run first (cellplugin/tfpin_order.py)
        write_atomic(first, "".join(t + "\n" for t in self.shared.first()))
        cmd = pytest_command(self.python, args, xml, "-x", "-p", "tfpin_order")
        if any(self.env.glob("lib/python*/site-packages/pytest_timeout.py")):  # a hung test ends the trial
            cmd += ["--timeout", str(self.ctx.project.timeout)]
        env = dict(cell_environ(self.cell, self.ctx))
        env[var.FIRST] = str(first)
        # A trial's records stay in its scratch directory, emptied each time: the cell's evidence (its artifacts,
        # its progress files) is its matrix run's, and a test that writes an artifact must find its name free.
        records = self.root / "records"
        shutil.rmtree(records, ignore_errors=True)
        records.mkdir(parents=True)
        env.update({name: str(records / name.lower()) for name in var.RUN_PATHS})
        with open(log_path, "w") as out:
            code, _ = procs.run(cmd, cwd=self.ctx.project.root, env=env, stdout=out, timeout=self.ctx.deadline)
        tests, _ = read_junit(xml, code)
        status, reason = classify(tests, code, "pytest exited %s (log %s)" % (code, log_path))
        if status == PASSED:
            return {"verdict": "pass"}
        first_error = (tests["first_error"] if tests else "") or last_error(log_path) or reason
        return {"verdict": "fail", "error": first_error, "failing": tests["failing"][:1] if tests else []}

    # -- the search ------------------------------------------------------------------------------------------
    def run(self) -> Search:
        self.interpreter, self.interpreter_version = find(self.cell.python)
        started = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        with EnvLock(self.root, self.log):
            current = self.baseline()
            self.log("%s: baseline as of %s (%d packages; tools' own dependencies exempt: %s)"
                     % (self.cell.id, self.era_date, len(current), ", ".join(self.exempt) or "none"))
            base = self.trial(current, "baseline")
            if base["verdict"] != "pass":
                return self._result(current, [], started, "baseline fails: %s" % base.get("error", ""))
            fixed = {canonicalize_name(n) for n, _ in self.cell.requirements} | self._exact_in_install_lines()
            fixed |= {canonicalize_name(t.split("==")[0]) for t in self.cell.tools if "==" in t}
            pins: dict = {}
            self._start_from_hints(current, pins, fixed)
            for _ in range(ROUNDS):
                movable = [n for n in sorted(current) if n not in fixed and n not in pins
                           and (self.only is None or n in self.only)]
                if not self._raise_group(movable, current, pins):
                    break
            final = self._confirmed_by_the_matrix(current) or self.trial(current, "confirm with the full suite",
                                                                         args=self.ctx.project.test)
            verdict = "" if final["verdict"] == "pass" else "the combined set fails the full suite: %s" % final.get(
                "error", "")
            return self._result(current, list(pins.values()), started, verdict)

    def _confirmed_by_the_matrix(self, current: dict, label: str = "confirm with the full suite") -> dict | None:
        """The confirmation, when the cell's last matrix run already is one: it passed the whole suite (nothing
        after `--`) with exactly this installed set, of the same sources, made by this tfpin, on this Python.
        The same evidence, so it is not measured twice; the trial says where it came from."""
        from tfpin import __version__
        from tfpin.cell import cache

        stored = cache.previous_run(self.ctx, self.cell.id)
        if stored is None or stored.status != PASSED or not stored.lock or stored.python != self.cell.python:
            return None
        if stored.harness.get("tfpin") != __version__ or stored.harness.get("sources") != self.shared.sources:
            return None
        try:
            installed = parse_freeze((self.ctx.project.root / stored.lock).read_text())
        except OSError:
            return None
        if installed != {canonicalize_name(k): v for k, v in current.items()}:
            return None
        record = {"label": label, "verdict": "pass", "versions": dict(current),
                  "seconds": 0.0, "reused_from": "the matrix run finished %s (%s)" % (stored.finished, stored.lock)}
        self.trials.append(record)
        self.log("  %-44s %-13s %5.1fs re-used: %s" % (record["label"], "pass", 0.0, record["reused_from"]))
        return record

    def _start_from_hints(self, current: dict, pins: dict, fixed: set) -> None:
        """Jump to the newest set under the hinted bounds, then check each bound one release above it."""
        from packaging.requirements import Requirement

        hinted: dict = {}
        for line in self.hints:
            name = canonicalize_name(Requirement(line).name)
            if name in current and name not in fixed and (self.only is None or name in self.only):
                hinted.setdefault(name, []).append(line)
        if not hinted:
            return
        lines = [ln for group in hinted.values() for ln in group]
        top, _ = self.compile(self._requirements(), lines)
        if top is None:
            self.log("  hints %s do not resolve together; searching without them" % ", ".join(lines))
            return
        rec = self.trial(top, "newest under the hints")
        if rec["verdict"] != "pass":
            self.log("  the newest set under the hints fails; searching without them")
            return
        _replace(current, top)
        for name in sorted(hinted):
            if name in current and name not in pins:
                self._check_bound(name, current, pins, ", ".join(hinted[name]))

    def _check_bound(self, name: str, current: dict, pins: dict, hint: str) -> None:
        others = ["%s==%s" % (n, v) for n, v in current.items() if n != name]
        top, _ = self.compile(self._requirements(), others)
        if top is None or top.get(name) in (None, current[name]):
            return  # the rest of the set keeps it where it is: nothing to bound
        for version in index.candidates(name, self.cell.python, current[name], top[name]):
            resolved, _ = self.compile(self._requirements(), others + ["%s==%s" % (name, version)])
            if resolved is None:
                continue
            rec = self.trial(resolved, "%s %s -> %s (above the hint %s)" % (name, current[name], version, hint))
            if rec["verdict"] == "fail":
                pins[name] = self._pin(name, current[name], version, rec.get("error", ""))
                return
            if rec["verdict"] == "pass":
                _replace(current, resolved)
                break
        self._raise(name, current, pins)  # the hint was too tight here: search on upward

    def _pin(self, name: str, good: str, bad: str, error: str) -> dict:
        # Bound just above the last good release: what lies between it and the first bad one could not be
        # installed (yanked, no build for this Python) and was never proven good.
        above = str(min(v for v in index.releases(name) if v > Version(good) and not v.is_prerelease))
        return {"package": name, "pin": "%s<%s" % (name, above), "last_good": good, "first_bad": bad,
                "reason": "%s %s: %s" % (name, bad, error or "the oracle failed")}

    def _raise_group(self, names: list[str], current: dict, pins: dict) -> bool:
        """Raise `names` together as far as the rest of the set allows; split the group while it fails.

        A group that passes is accepted as a whole in one trial; a failing one is halved until the
        package that breaks the oracle is varied alone (then bisected). Most packages move without
        harm, and a failing trial usually dies at import, so this costs far fewer seconds than
        trying every package on its own, and ends in exactly the same one-package-at-a-time verdicts.
        """
        if not names:
            return False
        if len(names) == 1:
            return self._raise(names[0], current, pins)
        others = ["%s==%s" % (n, v) for n, v in current.items() if n not in names]
        top, _ = self.compile(self._requirements(), others)
        if top is None:
            half = len(names) // 2
            return self._raise_group(names[:half], current, pins) | self._raise_group(names[half:], current, pins)
        changed = [n for n in names if n in top and top[n] != current[n]]
        if not changed:
            return False
        label = "%d packages up: %s" % (len(changed), ", ".join("%s %s" % (n, top[n]) for n in changed[:4]))
        rec = self.trial(top, label[:60] + ("..." if len(changed) > 4 else ""))  # with any new dependencies
        if rec["verdict"] == "pass":
            _replace(current, top)
            return True
        half = len(changed) // 2
        return self._raise_group(changed[:half], current, pins) | self._raise_group(changed[half:], current, pins)

    def _raise(self, name: str, current: dict, pins: dict) -> bool:
        others = ["%s==%s" % (n, v) for n, v in current.items() if n != name]
        top, why = self.compile(self._requirements(), others)
        if top is None or top.get(name) == current[name] or name not in top:
            return False
        newest = top[name]
        first = self.trial(top, "%s %s -> %s" % (name, current[name], newest))
        if first["verdict"] == "pass":
            _replace(current, top)
            return True
        if first["verdict"] == "uninstallable":
            return False
        versions = index.candidates(name, self.cell.python, current[name], newest)[:-1]  # newest is known bad
        good, good_set, bad, bad_error = current[name], dict(current), newest, first.get("error", "")
        lo, hi = 0, len(versions)  # invariant: versions[:lo] good-or-skipped, versions[hi:] bad
        while lo < hi:
            mid = (lo + hi) // 2
            resolved, _ = self.compile(self._requirements(), others + ["%s==%s" % (name, versions[mid])])
            if resolved is None:  # not installable with the rest of the set: look at its neighbours
                versions.pop(mid)
                hi -= 1
                continue
            rec = self.trial(resolved, "%s bisect %s" % (name, versions[mid]))
            if rec["verdict"] == "pass":
                good, good_set, lo = versions[mid], resolved, mid + 1
            elif rec["verdict"] == "fail":
                bad, bad_error, hi = versions[mid], rec.get("error", ""), mid
            else:
                versions.pop(mid)
                hi -= 1
        moved = good != current[name]
        _replace(current, good_set)
        pins[name] = self._pin(name, good, bad, bad_error)
        return moved

    def _result(self, current, pins, started, problem) -> Search:
        res = record(self.cell, self.ctx, self.oracle)
        res["era"], res["problem"], res["hints"] = getattr(self, "era_date", None), problem, self.hints
        res["pins"], res["final_set"], res["env_builds"] = pins, current, self.builds
        res["trials_reused"] = sum(1 for t in self.trials if "reused_from" in t)
        res["seconds"], res["trials"] = round(time.monotonic() - started, 1), self.trials
        return res


def _replace(current: dict, resolved: dict) -> None:
    """The accepted set becomes exactly what the installer resolved (new dependencies in, dropped ones out)."""
    current.clear()
    current.update(resolved)
