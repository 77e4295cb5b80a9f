"""What a matrix cell is: a Python plus exact requirements plus the pins that apply.

A cell is deliberately not a (tensorflow, keras) pair: GPU builds, other TF
distributions or extra packages are just more entries in `requirements`.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Leave:
    """A failure a constraint pin knowingly leaves open (matrix key `leaves`): documentation of the pin,
    never part of what a cell installs (so never of its definition or stamp)."""
    failure: str  # what still fails with the pin in force, as measured
    why_not: str  # why tfpin does not close it (e.g. the opt-in's published advisory)
    opt_in: str = ""  # a PEP 508 pin a user may add to close it; "" when no pin does
    when: tuple[tuple[str, str], ...] = ()  # (key, specifier) as in a constraint's `when`: the cells it concerns

    def describe(self) -> dict:
        return {"failure": self.failure, "opt_in": self.opt_in, "why_not": self.why_not, "when": dict(self.when)}


@dataclasses.dataclass(frozen=True)
class Constraint:
    pin: str  # a PEP 508 requirement, e.g. "protobuf<3.21"
    reason: str
    origin: str = "person"  # or "discovered" (tfpin pins discover measured it)
    leaves: tuple[Leave, ...] = ()  # on a cell: only the leaves whose `when` matches that cell


@dataclasses.dataclass(frozen=True)
class Cell:
    id: str  # e.g. "py3.7-tf1.15-keras2.2.5": the spelling used everywhere
    python: str  # "3.7"
    requirements: tuple[tuple[str, str], ...]  # (("tensorflow", "1.15.5"), ("keras", "2.2.5"))
    constraints: tuple[Constraint, ...] = ()
    tools: tuple[str, ...] = ()  # tfpin's test tooling for this Python (pytest, pytest-timeout)
    pip: str = ""  # pip release the stdlib-venv fallback upgrades to
    source: str = ""  # which matrix file and entry declared it, for error messages
    install: tuple[str, ...] = ()  # the project's own install lines (tfpin.toml `install`)
    # The packages whose installed versions its result records: its matrix's (matrix.recorded_packages), the
    # same for every cell of it, so the report's version columns line up. Not part of what it installs.
    recorded: tuple[str, ...] = ()

    @property
    def pins(self) -> dict[str, str]:
        return dict(self.requirements)

    @property
    def group(self) -> tuple[tuple[str, str], ...]:
        """Cells that share this key differ only in Python: they form one pinnable choice."""
        return self.requirements

    def requirement_lines(self) -> list[str]:
        return ["%s==%s" % (name, version) for name, version in self.requirements] + list(self.tools)

    def constraint_lines(self) -> list[str]:
        return [c.pin for c in self.constraints]

    def definition(self) -> dict:
        """Everything that decides what a cell installs: a result counts only for this exact definition."""
        return {"python": self.python, "requirements": self.requirement_lines(),
                "constraints": self.constraint_lines(), "install": list(self.install)}

    def env_token(self) -> str:
        """What the cell suite reads from TFPIN_CELL: no JSON, so tox.ini can carry it verbatim."""
        return " ".join([self.id, "python=" + self.python] + ["%s==%s" % r for r in self.requirements])

    def tox_env(self) -> str:
        """tox spelling: py36-tf112-keras224 (tox factors cannot contain dots)."""
        parts = self.id.split("-")
        return "-".join(p.replace(".", "") for p in parts)

    def describe(self) -> dict:
        return {"id": self.id, "python": self.python, "requirements": self.pins}

    def __str__(self) -> str:
        return self.id


def cell_id(python: str, requirements, packages: dict) -> str:
    parts = ["py" + python]
    for name, version in requirements:
        spec = packages[name]
        parts.append(spec["label"] + ".".join(version.split(".")[: spec["id_parts"]]))
    return "-".join(parts)
