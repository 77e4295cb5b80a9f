"""The constraint pins of a matrix file (and of a project's config): each `[[constraints]]` entry read and refused
with its file and key, its `when` conditions, the failures it knowingly `leaves`, and which of them hold for a
cell. The errors every part of a matrix file raises live here too (matrix.py re-exports them)."""
from __future__ import annotations

import dataclasses

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from tfpin.config.cells import Constraint, Leave

CONSTRAINT_KEYS = {"pin", "reason", "when", "origin", "leaves"}
LEAVE_KEYS = {"failure", "opt_in", "why_not", "when"}
ORIGINS = ("person", "discovered")


class MatrixError(ValueError):
    """A matrix file is malformed; the message says where and what is allowed."""


class UnknownCell(MatrixError):
    """A cell id that the matrix does not define."""


def no_unknown(path, where, table, allowed):
    if not isinstance(table, dict):
        raise MatrixError("%s: %s must be a table, got %r" % (path, where, table))
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise MatrixError(
            "%s: unknown key %s in %s; allowed keys: %s"
            % (path, ", ".join(repr(k) for k in unknown), where, ", ".join(sorted(allowed)))
        )


def is_requirement(line: str) -> bool:
    try:
        Requirement(line)
    except InvalidRequirement:
        return False
    return "\n" not in line and "\x00" not in line


def read_constraints(path, raw, packages) -> list[tuple[Constraint, dict]]:
    if not isinstance(raw, list):
        raise MatrixError("%s: key 'constraints' = %r must be an array of tables ([[constraints]] with pin, reason, "
                          "optional when)" % (path, raw))
    out = []
    for i, entry in enumerate(raw):
        where = "[[constraints]] #%d" % (i + 1)
        no_unknown(path, where, entry, CONSTRAINT_KEYS)
        for key in ("pin", "reason"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise MatrixError("%s: %s needs a non-empty string %r" % (path, where, key))
        try:
            Requirement(entry["pin"])
        except InvalidRequirement as exc:
            raise MatrixError(
                "%s: %s key 'pin' = %r is not a requirement: %s" % (path, where, entry["pin"], exc)
            ) from None
        when = _when(path, where, entry.get("when", {}), packages, "when")
        origin = entry.get("origin", "person")
        if origin not in ORIGINS:
            raise MatrixError("%s: %s key 'origin' = %r; allowed: %s" % (path, where, origin, ", ".join(ORIGINS)))
        leaves = _leaves(path, where, entry.get("leaves", []), packages)
        out.append((Constraint(entry["pin"], entry["reason"], origin, leaves), when))
    return out


def _when(path, where, raw, packages, name) -> dict:
    """A `when` table: python or a catalogue package -> the releases it selects ("1.15.5" means ==1.15.5)."""
    if not isinstance(raw, dict):
        raise MatrixError("%s: %s key %r must be a table like { tensorflow = \"<1.15\" }, got %r"
                          % (path, where, name, raw))
    when = {}
    for key, spec in raw.items():
        if key != "python" and key not in packages:
            raise MatrixError(
                "%s: %s key '%s.%s' is unknown; allowed: python, %s" % (path, where, name, key, ", ".join(packages))
            )
        try:
            if not isinstance(spec, str):
                raise InvalidSpecifier(spec)
            when[key] = SpecifierSet(spec) if any(c in spec for c in "<>=!~") else SpecifierSet("==" + spec)
        except InvalidSpecifier:
            raise MatrixError(
                "%s: %s key '%s.%s' = %r is not a version specifier" % (path, where, name, key, spec)
            ) from None
    return when


def _leaves(path, where, raw, packages) -> tuple[Leave, ...]:
    """`leaves = [{ failure = "...", opt_in = "pyyaml<5.1", why_not = "...", when = { keras = "2.2.4" } }]`."""
    shape = ('an array of inline tables like [{ failure = "what still fails with this pin", opt_in = "a pin a user '
             'could add to close it (optional: none closes it)", why_not = "why tfpin does not add it", when = '
             '{ keras = "2.2.4" } (optional) }]')
    if not isinstance(raw, list):
        raise MatrixError("%s: %s key 'leaves' must be %s, got %r" % (path, where, shape, raw))
    out = []
    for j, item in enumerate(raw):
        key = "leaves[%d]" % (j + 1)
        if not isinstance(item, dict):
            raise MatrixError("%s: %s key %r must be a table: 'leaves' is %s, got %r" % (path, where, key, shape, item))
        no_unknown(path, "%s key %r" % (where, key), item, LEAVE_KEYS)
        for name, what in (("failure", "the failure this pin leaves open, as measured"),
                           ("why_not", "why tfpin does not close it"), ("opt_in", "a pin a user could add")):
            if name == "opt_in" and name not in item:
                continue
            if not isinstance(item.get(name), str) or not item[name].strip():
                raise MatrixError("%s: %s key '%s.%s' must be a non-empty string (%s), got %r"
                                  % (path, where, key, name, what, item.get(name)))
        opt_in = item.get("opt_in", "")
        if opt_in:
            try:
                Requirement(opt_in)
            except InvalidRequirement as exc:
                raise MatrixError("%s: %s key '%s.opt_in' = %r is not a requirement (a PEP 508 pin such as "
                                  "\"pyyaml<5.1\"): %s" % (path, where, key, opt_in, exc)) from None
        when = _when(path, where, item.get("when", {}), packages, key + ".when")
        out.append(Leave(item["failure"], item["why_not"], opt_in, tuple((k, str(v)) for k, v in when.items())))
    return tuple(out)


def holds(when, facts) -> bool:
    return all(k in facts and facts[k] in spec for k, spec in when.items())


def for_cell(constraint: Constraint, facts) -> Constraint:
    """The constraint as it applies to one cell: with only the leaves that concern that cell."""
    if not constraint.leaves:
        return constraint
    kept = tuple(leave for leave in constraint.leaves
                 if holds({k: SpecifierSet(spec) for k, spec in leave.when}, facts))
    return dataclasses.replace(constraint, leaves=kept)
