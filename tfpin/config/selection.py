"""Which cells a run takes: `--cells` and a matrix file's `exclude`, by id or by what a cell is.

A selection is comma-separated terms:
- a cell id (`py3.7-tf1.15-keras2.2.5`) takes that cell; several ids take each of them;
- a condition on a factor, `NAME SPECIFIER` (`tensorflow>=1.14`, `python==3.7`, `keras~=2.2.4`), keeps the cells
  whose Python or pinned release satisfies it, a PEP 440 specifier read by `packaging` (a build that `pins_as`
  another package answers for it too, as constraint pins' `when` does);
- `!` before either drops what it names (`!python==3.6`, `!py3.6-tf1.12-keras2.2.4`).
Ids add, conditions must all hold, `!` terms subtract: `python==3.7,keras==2.2.5` is every 3.7 cell with Keras
2.2.5; with no id the conditions filter every cell of the matrix. Cells keep the matrix's order.
"""
from __future__ import annotations

import re

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from tfpin.config.cells import Cell
from tfpin.config.constraints import MatrixError, UnknownCell

TERM_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*?)\s*(?P<spec>(==|!=|<=|>=|~=|<|>).*)?\Z")
SHAPE = ("comma-separated cell ids and conditions NAME SPECIFIER on `python` or a package the matrix pins, each "
         "one optionally after `!` to drop what it names, e.g. 'tensorflow>=1.14', 'python==3.7,keras==2.2.5', "
         "'!python==3.6'")


class BadSelection(MatrixError):
    """A selection that cannot be read (exit 2): the message says which term, and what is allowed."""


def facts(cell: Cell, packages: dict) -> dict[str, Version]:
    """What a cell is, by factor: its Python and each pinned release (also under the package it `pins_as`)."""
    out = {"python": Version(cell.python)}
    for name, version in cell.requirements:
        out[canonicalize_name(name)] = Version(version)
    for name, version in cell.requirements:
        stock = (packages.get(name) or {}).get("pins_as")
        if stock:
            out.setdefault(canonicalize_name(stock), Version(version))
    return out


class _Condition:
    def __init__(self, name: str, spec: SpecifierSet):
        self.name, self.spec = name, spec

    def holds(self, cell_facts: dict) -> bool:
        return self.name in cell_facts and self.spec.contains(cell_facts[self.name], prereleases=True)


def parse(text, where: str, packages: dict) -> list[tuple[bool, str | _Condition]]:
    """[(dropped, a cell id or a condition)] of a selection; BadSelection names the term and what is allowed."""
    terms = [t.strip() for t in text.split(",")] if isinstance(text, str) else None
    if not terms or not all(terms):
        raise BadSelection("%s: %r is not a selection; expected %s" % (where, text, SHAPE))
    stock = {spec["pins_as"] for spec in packages.values() if isinstance(spec, dict) and "pins_as" in spec}
    factors = {"python"} | {canonicalize_name(n) for n in list(packages) + sorted(stock)}
    out: list[tuple[bool, str | _Condition]] = []
    for term in terms:
        dropped, body = term.startswith("!"), term.lstrip("!").strip()
        if not body:
            raise BadSelection("%s: %r is not a selection; expected %s" % (where, text, SHAPE))
        match = TERM_RE.match(body)
        if match is None or not match.group("spec"):
            if re.search(r"[<>=!~]", body):
                raise BadSelection("%s: term %r has no valid PEP 440 specifier (==, !=, <, <=, >, >=, ~=); expected %s"
                                   % (where, term, SHAPE))
            out.append((dropped, body))  # no operator: a cell id (an unknown one is named later)
            continue
        name = canonicalize_name(match.group("name"))
        if name not in factors:
            raise BadSelection("%s: term %r names %r, which no cell of this matrix pins; the factors are: %s"
                               % (where, term, match.group("name"), ", ".join(sorted(factors))))
        try:
            spec = SpecifierSet(match.group("spec").replace(" ", ""))
        except InvalidSpecifier:
            raise BadSelection("%s: term %r has no valid PEP 440 specifier after %r (==, !=, <, <=, >, >=, ~=); "
                               "expected %s" % (where, term, match.group("name"), SHAPE)) from None
        out.append((dropped, _Condition(name, spec)))
    return out


def select(cells: list[Cell], packages: dict, text, where: str, path, matrix_name: str) -> list[Cell]:
    """The cells a selection takes, in matrix order (ids in the order given when the selection is only ids)."""
    known = {c.id: c for c in cells}
    terms = parse(text, where, packages)
    unknown = [t for _, t in terms if isinstance(t, str) and t not in known]
    if unknown:
        raise UnknownCell("%s: unknown cell id(s) %s; cells of matrix %r: %s"
                          % (path, ", ".join(unknown), matrix_name, ", ".join(known)))
    chosen = [t for dropped, t in terms if not dropped and isinstance(t, str)]
    conditions = [t for dropped, t in terms if not dropped and isinstance(t, _Condition)]
    drops = [t for dropped, t in terms if dropped]
    if chosen and not conditions and not drops:
        return [known[i] for i in chosen]
    kept = []
    for cell in cells:
        cell_facts = facts(cell, packages)
        if chosen and cell.id not in chosen:
            continue
        if not all(c.holds(cell_facts) for c in conditions):
            continue
        if any(d == cell.id if isinstance(d, str) else d.holds(cell_facts) for d in drops):
            continue
        kept.append(cell)
    if not kept:
        raise BadSelection("%s: %r selects no cell of matrix %r (`tfpin list --cells ...` shows what a selection "
                           "takes)" % (where, text, matrix_name))
    return kept
