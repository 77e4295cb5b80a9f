"""Step one of every command: read the project, the matrix and the selection, and refuse bad input.

Nothing runs before all of it is valid: a typo costs an exit 2 with the file, the key and what is
allowed, never the first hour of a matrix. The Context it returns is what every later step shares.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from tfpin import environ
from tfpin.config import matrix as matrices
from tfpin.config import project as projects
from tfpin.config.context import Context
from tfpin.config.layout import Layout
from tfpin.options import Selection

CATALOGUE = "full"  # the superset a single cell is looked up in


class UsageError(Exception):
    """Refused before anything ran (exit 2)."""


def load(selection: Selection):
    """(project, matrix, selected cells, context) with every input validated; nothing has run yet."""
    try:
        environ.check_knobs()
    except environ.BadVariable as exc:
        raise UsageError(str(exc)) from None
    project = projects.load()
    m = matrices.load(selection.matrix or project.matrix, project)
    cells = m.select(list(selection.cells)) if selection.cells else m.cells
    layout = Layout.of(project.root, selection.reports, selection.envs)
    check_writable(layout.reports)
    ctx = Context(project, layout.reports, layout.envs, selection.log_level, selection.pytest_args)
    ctx.config_files = [m.path, m.constraints_path] + ([project.source] if project.source.name == projects.CONFIG_FILE
                                                      else [])
    return project, m, cells, ctx


def check_writable(reports: Path) -> None:
    """Refuse an unusable report directory before any cell runs, not after the first hour of them."""
    try:
        reports.mkdir(parents=True, exist_ok=True)
        probe = reports / (".tfpin-write-test-%d" % os.getpid())
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError("report directory %s is not writable (%s); pass --reports DIR with a writable "
                         "directory" % (reports, exc.strerror or exc)) from None


def load_one(selection: Selection, cell_id: str):
    """A cell id the project's matrix lacks is looked up in the built-in matrices: the cross product
    (off-table pairs) first, then the others (intel, GPU, TF 2.x cells)."""
    selection = dataclasses.replace(selection, cells=(cell_id,))
    try:
        return load(selection)
    except matrices.UnknownCell as exc:
        if selection.matrix:
            raise
        first = exc
    for name in [CATALOGUE] + [n for n in matrices.available_matrices() if n != CATALOGUE]:
        try:
            return load(dataclasses.replace(selection, matrix=name))
        except matrices.UnknownCell:
            continue
    raise matrices.UnknownCell("%s; no built-in matrix (%s) has it either: `tfpin list --matrix NAME` shows their cells"
                               % (first, ", ".join(matrices.available_matrices())))
