"""What tfpin says while it works, as typed events: the steps emit them, the console's views show them.

One stream, several views (tfpin/report/console.py): the lines of a plain log, the live region on a terminal, the
heartbeats of a CI log, `-q` and `-v`, and GitHub's folded logs and annotations. A step never prints and never
asks which view is on; it emits, as pytest's steps hand a TestReport to the terminal and the JUnit writer alike.
The journal (matrix.json, the per-cell results) is written apart from this, by the report and the runner.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Union


@dataclass(frozen=True)
class Info:
    """A step's progress ("project ..., 8 cells", "cells run ..."): silenced by -q."""
    text: str


@dataclass(frozen=True)
class Problem:
    """Something the user must read (stderr, never silenced): a refused result, a failed step, a host setting
    ignored."""
    text: str


@dataclass(frozen=True)
class Output:
    """The command's own answer (stdout, never silenced): what `list` lists, where a file was written."""
    text: str


@dataclass(frozen=True)
class CellsStarting:
    """The cells are about to run (the live region opens)."""
    total: int


@dataclass(frozen=True)
class CellStarted:
    """A cell's work began. `progress` and `log`: where its pytest says how far it is and what it printed, for the
    live views (None: nothing to watch, e.g. a bench or a pin search); `expected_s`: its last run's tests."""
    index: int
    total: int
    cell_id: str
    text: str = "started"
    progress: Path | None = None
    log: Path | None = None
    expected_s: float | None = None


@dataclass(frozen=True)
class CellNote:
    """A cell's phase changed, or something worth a line about it (waiting for its env's lock, a trial's verdict)."""
    index: int
    total: int
    cell_id: str
    text: str
    detail: bool = False  # a line of a long search (pin discovery): every view but -q shows it


@dataclass(frozen=True)
class TestsProgressed:
    """Where a running cell is now, every tick while it runs (the in-cell plugin's progress file): `collected` is
    None while it is still setting up (no pytest yet)."""
    cell_id: str
    done: int = 0
    collected: int | None = None
    test: str = ""


@dataclass(frozen=True)
class LogLines:
    """Whole lines a running cell's pytest just printed (for -v, which streams every cell)."""
    cell_id: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class CellFinished:
    """A cell's verdict (`result`, a CellResult: the view words it), or a bench's figures, a search's pins (`text`)."""
    index: int
    total: int
    cell_id: str
    text: str = ""
    result: Any = None
    log: Path | None = None
    root: Path | None = None  # the project root its JUnit path is relative to


@dataclass(frozen=True)
class CellsDone:
    """Every cell ran or was stopped (the live region closes)."""


@dataclass(frozen=True)
class StepFinished:
    """A named step of the workflow ended ("cells", "cross"); `text` says how it went."""
    name: str
    seconds: float
    text: str


@dataclass(frozen=True)
class Totals:
    """The test totals of a run's cells (its CellResults), the line CI logs are read for."""
    results: tuple


@dataclass(frozen=True)
class Summary:
    """The run's closing summary: the report (report.build's dict) and where its files are."""
    report: dict
    written: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())


Event = Union[Info, Problem, Output, CellsStarting, CellStarted, CellNote, TestsProgressed, LogLines, CellFinished,
              CellsDone, StepFinished, Totals, Summary]
Say = Callable[[str], None]  # a step's one-line note about the cell it works on


class Reporter(Protocol):
    def emit(self, event: Event) -> None: ...


class Fanout:
    """Every event to each of several reporters (the console, and the journal that writes the report)."""

    def __init__(self, *reporters: Reporter):
        self.reporters = reporters

    def emit(self, event: Event) -> None:
        for reporter in self.reporters:
            reporter.emit(event)
