"""A cell's result: one typed record, created when the cell is picked up and completed by the step that owns
each field, so no module invents a key another one has to guess at.

    identity     id, python, requirements, constraints, definition, stamp, selection   (for_cell)
    environment  env, resolved, lock, durations.setup_* and .steps                      (runner.prepare)
    verdict      status, reason, tests, failing, skips, notes, completeness, junit,
                 artifacts, deprecations, durations.tests_*, passed_env, loaded         (runner.run_suite, status)
    run          started, finished, log, harness                                        (runner.run_cell, pipeline)
    re-use       cache (cache.Verdicts.seal), cached_from (cache.Verdicts.lookup)

`reports/cells/<id>.json` is `to_json()`; it carries SCHEMA, and `from_json` refuses a record of another
schema or with keys it does not know, so a stored result is either read whole or not re-used at all.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

SCHEMA = 2  # 2: durations carry CPU seconds, demand and set-up steps
# Written only once they are known: absent from the JSON (not null) until their step ran.
OPTIONAL = ("lock", "log", "junit", "skips", "notes", "completeness", "artifacts", "deprecations", "passed_env",
            "loaded", "cache", "cached_from", "retries", "coverage")


class ResultFormatError(ValueError):
    """A stored result that this tfpin cannot read as a CellResult (says which key, and what it expected)."""


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    flaky: int = 0  # failed, then passed when run again alone (--retries): counted in `passed` too

    @property
    def executed(self) -> int:
        """Tests that ran to an outcome (a skip did not run)."""
        return self.passed + self.failed + self.errors


@dataclass
class Durations:
    """Wall seconds of set-up (env, freeze, imports) and tests; what each used of the machine (tfpin/load.py:
    CPU seconds, and the cores it kept busy, which the next run schedules by); set-up by step."""

    setup_s: float = 0.0
    tests_s: float = 0.0
    setup_cpu_s: float = 0.0
    tests_cpu_s: float = 0.0
    setup_demand: float | None = None
    tests_demand: float | None = None
    steps: dict = field(default_factory=dict)  # {create, install, reinstall, probe, freeze, imports: seconds}
    tests_started_at: float | None = None  # epoch seconds: when the suite started, to see which cells overlapped


@dataclass
class CellResult:
    id: str
    python: str
    requirements: dict
    constraints: list
    definition: dict
    stamp: str
    selection: list | None
    started: str
    harness: dict  # tfpin's version; "sources": the digest of the code the run tested (pipeline)
    status: str | None = None
    reason: str = ""
    tests: Counts = field(default_factory=Counts)
    failing: list = field(default_factory=list)
    durations: Durations = field(default_factory=Durations)
    resolved: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    finished: str | None = None
    lock: str | None = None
    log: str | None = None
    junit: str | None = None
    skips: dict | None = None
    notes: list | None = None
    completeness: dict | None = None
    artifacts: list | None = None  # names its tests wrote with tfpin_artifact: reports/artifacts/<id>/<name>/
    deprecations: list | None = None  # the census: notices whose call site is the project's ({site, api, ...})
    passed_env: list | None = None  # the names (never the values) of the host variables the suite saw
    loaded: dict | None = None  # what pytest read outside the env and stdlib: {rootdir, inifile, files: {path: sha}}
    cache: dict | None = None
    cached_from: dict | None = None
    retries: list | None = None  # --retries: each retried test, flaky or not, with every attempt (cell/retries.py)
    coverage: dict | None = None  # --coverage: the cell's kept data file, the coverage.py that measured (cell/covdata)

    @classmethod
    def for_cell(cls, cell, stamp: str, selection, started: str, version: str) -> CellResult:
        """The record of a cell that is about to run: its identity, nothing measured yet."""
        return cls(id=cell.id, python=cell.python, requirements=dict(cell.pins), constraints=cell.constraint_lines(),
                   definition=cell.definition(), stamp=stamp, selection=list(selection) if selection else None,
                   started=started, harness={"tfpin": version})

    def fail(self, status: str, reason: str) -> None:
        self.status, self.reason = status, reason

    def to_json(self) -> dict:
        data = {"schema": SCHEMA, **dataclasses.asdict(self)}
        for name in OPTIONAL:
            if data[name] is None:
                del data[name]
        return data

    @classmethod
    def from_json(cls, data, where: str = "result") -> CellResult:
        if not isinstance(data, dict):
            raise ResultFormatError("%s: not a JSON object" % where)
        if data.get("schema") != SCHEMA:
            raise ResultFormatError("%s: result schema %r, this tfpin reads schema %d (written by another tfpin "
                                    "version: re-run the cell)" % (where, data.get("schema"), SCHEMA))
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known) - {"schema"})
        if unknown:
            raise ResultFormatError("%s: unknown key(s) %s in a schema-%d result" % (where, ", ".join(unknown), SCHEMA))
        values = {k: v for k, v in data.items() if k != "schema"}
        try:
            values["tests"] = Counts(**_typed(Counts, values.get("tests", {}), where, "tests."))
            values["durations"] = Durations(**_typed(Durations, values.get("durations", {}), where, "durations."))
            return cls(**_typed(cls, values, where, ""))
        except TypeError as exc:
            raise ResultFormatError("%s: %s" % (where, exc)) from None


_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "dict": (dict,), "list": (list,), "None": (type(None),),
          "Counts": (Counts,), "Durations": (Durations,)}


def _typed(cls, values, where: str, prefix: str) -> dict:
    """`values` when every field has its declared type (no bool for a number, numbers finite and not negative where
    they count or time something); else ResultFormatError naming the file and the field: a stored result that was
    edited or damaged is never trusted in part."""
    if not isinstance(values, dict):
        raise ResultFormatError("%s: %s must be an object, got %r" % (where, prefix.rstrip(".") or "the result",
                                                                     values))
    hints = {f.name: f.type for f in dataclasses.fields(cls)}
    for name, value in values.items():
        if name not in hints:
            continue  # an unknown key: the constructor names it
        allowed = tuple(t for part in str(hints[name]).split("|") for t in _TYPES[part.strip()])
        number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed) or (
                number is not None and float in allowed and not math.isfinite(number)) or (
                number is not None and cls in (Counts, Durations) and number < 0):
            raise ResultFormatError("%s: field %s%s = %r; expected %s" % (
                where, prefix, name, value, str(hints[name]).replace("|", "or")))
    return values

