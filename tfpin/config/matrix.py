"""Read a matrix file (matrices/*.toml) into cells, refusing anything ambiguous.

Validation is strict and happens before anything runs: a typo in a matrix must never
turn into a silently smaller matrix. Every error names the file, the key and what is
allowed.
"""
from __future__ import annotations

import itertools
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tfpin import files
from tfpin.config import selection, tomlfile
from tfpin.config.cells import Cell, cell_id
from tfpin.config.constraints import MatrixError as MatrixError  # raised by every part of a matrix file
from tfpin.config.constraints import UnknownCell as UnknownCell
from tfpin.config.constraints import (
    for_cell,
    holds,
    is_requirement,
    no_unknown,
    read_constraints,
)

# The built-in matrices are data at the repository's top level (matrices/); the wheel ships that very
# directory inside the package (hatch force-include), so an installed tfpin finds it beside this file.
_PACKAGE = Path(__file__).resolve().parent.parent  # tfpin/
MATRICES_DIR = _PACKAGE / "matrices" if (_PACKAGE / "matrices").is_dir() else _PACKAGE.parent / "matrices"
DEFAULT_MATRIX = "table"

TOP_KEYS = {"description", "extends", "remove", "exclude", "cells", "packages", "pythons", "constraints", "purpose"}
# What a matrix is for: choosing a pin among releases, or pricing a move (the report leads with the cost).
PURPOSES = ("compatibility", "migration")
PACKAGE_KEYS = {"label", "id_parts", "pins_as"}
PYTHON_KEYS = {"pip", "tools"}
# A failure the pin knowingly leaves open: what still fails, the pin a user could add to close it (none: no
# pin does), why tfpin does not, and which of the pin's cells it concerns. Documentation, never installed.
# \Z, not $: "$" also matches before a final newline, and "1.15.5\n" made a cell id with a newline in it.
VERSION_RE = re.compile(r"^\d+\.\d+(\.\d+)?\Z")
PYTHON_RE = re.compile(r"^3\.\d+\Z")
LABEL_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z][a-z0-9]*)*\Z")  # "tf", "intel-tf": words joined by hyphens
PACKAGE_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?\Z")  # a PEP 508 project name
BUILT_IN_RE = re.compile(r"^[a-z0-9_-]+\Z")
# What ran every cell's suite: its version is recorded beside the matrix's own packages.
TEST_RUNNER = "pytest"


class Matrix:
    def __init__(self, name: str, path: Path, description: str, cells: list[Cell], shared=None,
                 constraints_path: Path | None = None, purpose: str = "compatibility", recorded=()):
        self.name, self.path, self.description, self.cells = name, path, description, cells
        self.purpose = purpose
        self.shared = shared or {}  # packages, pythons, constraints as written: what a child inherits
        # The file whose [[constraints]] this matrix uses: itself, or the base it `extends`.
        self.constraints_path = constraints_path or path
        self.recorded = tuple(recorded)  # the packages whose versions every result records (recorded_packages)

    def version_columns(self) -> list[dict]:
        """The report's version columns, one per recorded package in recorded order, except that a build which
        `pins_as` another package (intel-tensorflow) is shown in that package's column, where its cells name it:
        [{"name": "tensorflow", "builds": ["intel-tensorflow"]}, {"name": "keras", "builds": []}, ...]."""
        stock = {canonicalize_name(name): canonicalize_name(spec["pins_as"])
                 for name, spec in self.shared.get("packages", {}).items() if "pins_as" in spec}
        columns: dict[str, dict] = {}
        for name in self.recorded:
            column = columns.setdefault(stock.get(name, name), {"name": stock.get(name, name), "builds": []})
            if name in stock:
                column["builds"].append(name)
        return list(columns.values())

    def report_name(self, partial: bool) -> str:
        """File stem of a run's report: matrix.*, matrix-<name>.*, and -partial for a subset or filtered run."""
        base = "matrix" if self.name == DEFAULT_MATRIX else "matrix-" + self.name
        return base + "-partial" if partial else base

    def select(self, terms, where: str = "--cells") -> list[Cell]:
        """The cells a selection takes: its text, or its terms (ids, conditions on factors, `!` to drop:
        config/selection.py)."""
        text = terms if isinstance(terms, str) else ",".join(terms)
        return selection.select(self.cells, self.shared.get("packages", {}), text, where, self.path, self.name)


def resolve_path(name_or_path: str, relative_to: Path | None = None) -> Path:
    """'table' -> the built-in table.toml; anything with a .toml suffix or a slash is a path."""
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        path = Path(name_or_path)
        return path if path.is_absolute() or relative_to is None else relative_to / path
    return MATRICES_DIR / (name_or_path + ".toml")


def available_matrices() -> list[str]:
    return sorted(p.stem for p in MATRICES_DIR.glob("*.toml"))


def load(name_or_path: str = DEFAULT_MATRIX, project=None, _extended_by=()) -> Matrix:
    """project: a tfpin.project.Project whose constraints and install lines every cell gets."""
    path = resolve_path(name_or_path)
    if not files.exists(path, is_file=True) or not (name_or_path.endswith(".toml") or "/" in name_or_path
                                  or BUILT_IN_RE.match(name_or_path)):
        raise MatrixError(
            "matrix %r not found (looked for %s); available: %s"
            % (name_or_path, path, ", ".join(available_matrices()))
        )
    data = _read(path)
    cells_raw = data.get("cells", [])
    inherited: list[Cell] = []
    constraints_path = path
    description = data.get("description", "")
    if not isinstance(description, str) or "\x00" in description:
        raise MatrixError("%s: key 'description' = %r must be a string: one line on what the matrix is for"
                          % (path, description))
    if "extends" in data:
        base = _base(path, data, _extended_by)
        constraints_path = base.constraints_path
        data.update(base.shared)
        inherited = _without(path, base, data.get("remove", []))
    elif "remove" in data:
        raise MatrixError("%s: key 'remove' only makes sense with 'extends' (cells of the base matrix to drop)" % path)
    packages = _packages(path, data.get("packages", {}))
    pythons = _pythons(path, data.get("pythons", {}))
    constraints = read_constraints(path, data.get("constraints", []), packages)
    install = ()
    if project is not None:
        constraints += read_constraints(project.source, project.constraints, packages)
        install = tuple(project.install)
    if not isinstance(cells_raw, list) or not (cells_raw or inherited):
        raise MatrixError("%s: key 'cells' must be a non-empty array of tables ([[cells]])" % path)
    for position, entry in enumerate(cells_raw, 1):
        if not isinstance(entry, dict):
            raise MatrixError("%s: [[cells]] #%d must be a table (python = \"3.7\", tensorflow = \"1.15.5\", ...), "
                              "got %r" % (path, position, entry))
    cells: list[Cell] = []
    seen: dict[str, str] = {}
    entries: list[tuple[int | None, dict]] = [(None, _entry_of(c)) for c in inherited] + list(enumerate(cells_raw))
    recorded = recorded_packages(packages, [entry for _, entry in entries], constraints)
    for index, entry in entries:  # inherited cells are re-expanded so this file's project applies to them too
        for cell in _expand(path, index, entry, packages, pythons, constraints, install, recorded):
            if cell.id in seen:
                raise MatrixError("%s: duplicate cell %s (declared by %s and again by %s)"
                                  % (path, cell.id, seen[cell.id], cell.source))
            seen[cell.id] = cell.source
            cells.append(cell)
    cells = _excluded(path, data.get("exclude", []), cells, packages)
    shared = {key: data.get(key, {} if key != "constraints" else []) for key in ("packages", "pythons", "constraints")}
    purpose = data.get("purpose", "compatibility")
    if purpose not in PURPOSES:
        raise MatrixError("%s: key 'purpose' = %r; allowed: %s (migration: the report leads with what failed, what "
                          "skipped and why, per cell)" % (path, purpose, ", ".join(PURPOSES)))
    return Matrix(path.stem, path, description, cells, shared, constraints_path, purpose, recorded)


def _excluded(path: Path, exclude, cells: list[Cell], packages: dict) -> list[Cell]:
    """The cells left once every `exclude` selection (`"python==3.6,tensorflow<1.13"`: what its conditions all
    hold for, or a cell id) is taken out; one that takes out no cell is a typo, refused."""
    if not isinstance(exclude, list) or not all(isinstance(e, str) and e.strip() for e in exclude):
        raise MatrixError("%s: key 'exclude' = %r must be a list of selections, e.g. [\"python==3.6,tensorflow<1.13\"] "
                          "(%s)" % (path, exclude, selection.SHAPE))
    dropped: set[str] = set()
    for entry in exclude:
        where = "%s: key 'exclude' entry %r" % (path, entry)
        dropped |= {c.id for c in selection.select(cells, packages, entry, where, path, path.stem)}
    left = [c for c in cells if c.id not in dropped]
    if not left:
        raise MatrixError("%s: key 'exclude' takes out every cell" % path)
    return left


def recorded_packages(packages: dict, entries: list[dict], constraints) -> tuple[str, ...]:
    """The packages whose installed versions each cell's result records (runner.prepare, from the env's freeze)
    and the report shows as its version columns: what this matrix is about, never a fixed list. Every catalogue
    package a cell pins, in the catalogue's order (a build that `pins_as` another package brings that package
    too, whose column it is shown in), then every package a constraint pins, then the test runner. Canonical
    names, as the freeze spells them."""
    names = []
    for name, spec in packages.items():
        if any(name in entry for entry in entries):
            names += [spec.get("pins_as", name), name]
    names += [Requirement(constraint.pin).name for constraint, _ in constraints]
    names.append(TEST_RUNNER)
    return tuple(dict.fromkeys(canonicalize_name(name) for name in names))


def _base(path: Path, data: dict, extended_by: tuple) -> Matrix:
    """The matrix this one `extends` (no cycle), which alone defines the packages, pythons and constraints."""
    chain = extended_by + (path.resolve(),)
    base_path = _base_name(path, data["extends"])
    if Path(base_path).resolve() in chain:
        raise MatrixError("%s: key 'extends' makes a cycle: %s" % (
            path, " -> ".join(str(p) for p in chain + (Path(base_path).resolve(),))))
    base = load(base_path, _extended_by=chain)
    for key in ("packages", "pythons", "constraints"):
        if key in data:
            raise MatrixError("%s: key %r is inherited from %s via 'extends'; define it there only"
                              % (path, key, base.path.name))
    return base


def _base_name(path: Path, extends) -> str:
    if not isinstance(extends, str) or not extends.strip():
        raise MatrixError("%s: key 'extends' must name a built-in matrix (%s) or a .toml path"
                          % (path, ", ".join(available_matrices())))
    base = resolve_path(extends, path.parent)
    named = extends.endswith(".toml") or "/" in extends or BUILT_IN_RE.match(extends)
    if not files.exists(base, is_file=True) or not named:
        raise MatrixError("%s: key 'extends' names %s, which does not exist; built-in matrices: %s"
                          % (path, base, ", ".join(available_matrices())))
    if base.resolve() == path.resolve():
        raise MatrixError("%s: key 'extends' names the file itself" % path)
    return str(base)


def _without(path: Path, base: Matrix, remove) -> list[Cell]:
    if not isinstance(remove, list) or not all(isinstance(r, str) for r in remove):
        raise MatrixError("%s: key 'remove' must be a list of cell ids of %s" % (path, base.path.name))
    known = {c.id for c in base.cells}
    unknown = [r for r in remove if r not in known]
    if unknown:
        raise MatrixError("%s: key 'remove' names %s, not a cell of %s; its cells: %s"
                          % (path, ", ".join(unknown), base.path.name, ", ".join(sorted(known))))
    return [c for c in base.cells if c.id not in remove]


def _entry_of(cell: Cell) -> dict:
    """An inherited cell as a [[cells]] entry, so this file's pins and project apply to it as to its own."""
    return {"python": cell.python, **dict(cell.requirements), "_source": cell.source}


def _read(path: Path) -> dict:
    try:
        data = tomlfile.read(path)
    except tomlfile.Unreadable as exc:
        raise MatrixError(str(exc)) from None
    no_unknown(path, "top level", data, TOP_KEYS)
    return data


def _packages(path, raw) -> dict:
    no_unknown(path, "key 'packages'", raw, set(raw) if isinstance(raw, dict) else ())
    for name, spec in raw.items():
        where = "[packages.%s]" % name
        if not PACKAGE_RE.match(name):
            raise MatrixError("%s: %r is not a package name (letters, digits, '.', '_', '-': a PEP 508 name)"
                              % (path, name))
        no_unknown(path, where, spec, PACKAGE_KEYS)
        if not isinstance(spec.get("label"), str) or not LABEL_RE.match(spec["label"]):
            raise MatrixError("%s: %s key 'label' must be lowercase letters/digits, words joined by hyphens, "
                              "e.g. \"tf\" or \"intel-tf\"" % (path, where))
        if isinstance(spec.get("id_parts"), bool) or spec.get("id_parts") not in (1, 2, 3):
            raise MatrixError("%s: %s key 'id_parts' must be 1, 2 or 3" % (path, where))
        if "pins_as" in spec and (not isinstance(spec["pins_as"], str) or spec["pins_as"] not in set(raw) - {name}):
            raise MatrixError("%s: %s key 'pins_as' = %r must name another package of the catalogue (%s): the "
                              "package whose constraint conditions (`when`) this one answers too, e.g. "
                              "tensorflow-gpu pins_as = \"tensorflow\"" % (path, where, spec["pins_as"],
                                                                          ", ".join(sorted(raw))))
    return raw


def _pythons(path, raw) -> dict:
    no_unknown(path, "key 'pythons'", raw, set(raw) if isinstance(raw, dict) else ())
    for version, spec in raw.items():
        where = '[pythons."%s"]' % version
        if not PYTHON_RE.match(version):
            raise MatrixError("%s: %s is not a Python version like \"3.7\"" % (path, where))
        no_unknown(path, where, spec, PYTHON_KEYS)
        tools = spec.get("tools", [])
        if not isinstance(tools, list) or not all(isinstance(t, str) and is_requirement(t) for t in tools):
            raise MatrixError("%s: %s key 'tools' = %r must be a list of requirement strings like \"pytest==6.2.5\""
                              % (path, where, tools))
        pip = spec.get("pip", "")
        if not (isinstance(pip, str) and (pip == "" or is_requirement(pip) and Requirement(pip).name == "pip")):
            raise MatrixError("%s: %s key 'pip' = %r must be a requirement on pip, like \"pip==21.3.1\""
                              % (path, where, pip))
    return raw


def _expand(path, index, entry, packages, pythons, constraints, install=(), recorded=()):
    entry = dict(entry)
    inherited_from = entry.pop("_source", None)
    where = inherited_from or "[[cells]] #%d" % (index + 1)
    no_unknown(path, where, entry, {"python", *packages})
    if "python" not in entry:
        raise MatrixError("%s: %s has no 'python' key; allowed Pythons: %s" % (path, where, ", ".join(pythons)))
    axes = []
    for key in ["python", *[p for p in packages if p in entry]]:
        values = entry[key] if isinstance(entry[key], list) else [entry[key]]
        for v in values:
            if key == "python":
                if not isinstance(v, str) or v not in pythons:
                    raise MatrixError(
                        "%s: %s key 'python' = %r is not supported; allowed: %s (declare it under [pythons])"
                        % (path, where, v, ", ".join(pythons))
                    )
            elif not isinstance(v, str) or not VERSION_RE.match(v):
                raise MatrixError(
                    "%s: %s key %r = %r is not an exact release like \"1.15.5\"" % (path, where, key, v)
                )
        axes.append([(key, v) for v in values])
    for combo in itertools.product(*axes):
        python = combo[0][1]
        reqs = tuple(combo[1:])
        facts = {"python": Version(python), **{k: Version(v) for k, v in reqs}}
        for k, v in reqs:  # tensorflow-gpu 1.15.5 answers `when = { tensorflow = ... }` like tensorflow 1.15.5
            facts.setdefault(packages[k].get("pins_as", k), Version(v))
        applied = tuple(for_cell(c, facts) for c, when in constraints if holds(when, facts))
        yield Cell(
            id=cell_id(python, reqs, packages),
            python=python,
            requirements=reqs,
            constraints=applied,
            tools=tuple(pythons[python].get("tools", [])),
            pip=pythons[python].get("pip", ""),
            install=install,
            source=inherited_from or "%s %s" % (path.name, where),
            recorded=recorded,
        )
