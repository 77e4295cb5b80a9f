"""What each command was asked, as typed records: the command line's only interface to the steps below it.

`tfpin/cli.py` parses; `tfpin/commands.py` turns the parsed namespace into one of these records, and nothing
below the commands sees argparse. Frozen: a step that needs another selection makes a new record
(dataclasses.replace), so no step changes what a later one was asked.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Selection:
    """What every command that reads a matrix takes: which matrix and cells, where outputs go, and the pytest
    arguments after `--` (None: the whole suite)."""
    matrix: str | None = None
    cells: tuple[str, ...] = ()
    reports: Path | None = None
    envs: Path | None = None
    log_level: int | None = None
    skip_missing_interpreters: bool = False
    pytest_args: tuple[str, ...] | None = None

    @property
    def partial(self) -> bool:
        """A subset run (--cells, or pytest arguments): it never writes the full matrix's report."""
        return bool(self.cells) or self.pytest_args is not None


@dataclass(frozen=True)
class Running:
    """How cells run: the verdict cache, how much the console shows, how many at once (None: by demand)."""
    use_cache: bool = True
    view: str = "normal"
    jobs: int | None = None
    fail_fast: str | None = None  # "finish": no new cell after the first that fails; "now": running ones stop too
    retries: int = 0  # a failed test is run again alone up to this many times (cell/retries.py)
    coverage: bool = False  # the suite runs under coverage.py, combined across cells in the report (cell/covdata.py)


@dataclass(frozen=True)
class MatrixOptions:
    selection: Selection
    running: Running
    floors: bool = False  # also run the suite on the lowest releases the install lines allow (pins/floors.py)


@dataclass(frozen=True)
class CellOptions:
    selection: Selection
    running: Running
    cell_id: str


@dataclass(frozen=True)
class BenchOptions:
    selection: Selection


@dataclass(frozen=True)
class MigrateOptions:
    selection: Selection
    running: Running
    from_cell: str | None = None
    keep: bool = False


@dataclass(frozen=True)
class ReportOptions:
    selection: Selection
    constraints: Path | None = None  # also write constraints-py3.X.txt of the recommended cells here (compat.py)


@dataclass(frozen=True)
class CrossOptions:
    selection: Selection
    cell_id: str


@dataclass(frozen=True)
class ListOptions:
    selection: Selection
    as_json: bool = False


@dataclass(frozen=True)
class CiOptions:
    selection: Selection
    system: str
    output: Path | None = None
    tfpin: str | None = None
    schedule: str | None = None  # a cron: the file also runs `tfpin drift` on it (generate/ci_schedule.py)


@dataclass(frozen=True)
class PinsOptions:
    selection: Selection
    action: str
    packages: tuple[str, ...] | None = None  # None: every package of the resolved set but the cell's exact pins
    jobs: int | None = None
    apply: bool = False


@dataclass(frozen=True)
class DriftOptions:
    selection: Selection
    jobs: int | None = None  # trials at once (None: as many as the cores feed, measured on the trials)


@dataclass(frozen=True)
class InitOptions:
    matrix: str
    reports: Path | None = None
    envs: Path | None = None
    view: str = "normal"


@dataclass(frozen=True)
class ToxIniOptions:
    check: bool = False
    force: bool = False
