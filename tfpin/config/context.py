"""What every cell of one run shares, and the two small conventions every step uses (times, shown paths).

It stands apart from the runner so that loading a configuration (tfpin/config/inputs.py) builds a Context without
importing how cells are run.
"""
from __future__ import annotations

import datetime
from pathlib import Path

from tfpin.config.layout import Layout


class Context:
    """The project, where things go, how the suite is run."""

    def __init__(self, project, reports: Path, envs: Path, log_level: int | None = None, selection=None):
        self.project = project
        self.layout = Layout(reports, envs)
        self.log_level = log_level
        self.selection = list(selection) if selection else None  # pytest args after --: a debugging subset
        self.pytest_extra: list[str] = []  # how a command runs the whole suite (migrate: past collection errors)
        self.retries = 0  # --retries: how often a failed test is run again alone before it counts as failed
        self.coverage = False  # --coverage: the suite runs under coverage.py (cell/covdata.py)
        self.install_digest = project.install_digest()  # read once: the named files do not change mid-run
        self._local: dict | None = None
        self.config_files: list[Path] = []  # tfpin.toml and the matrix files: configuration, not code under test

    @property
    def local(self) -> dict:
        """Digests of the project trees the install lines install (tfpin/config/local.py), read once per run."""
        if self._local is None:
            from tfpin.config import local

            # tfpin.toml is configuration, not the code under test: `tfpin init` writes it after it built the env
            config = self.project.root / "tfpin.toml"
            self._local = local.digests(self.project.install, self.project.root, (self.reports, self.envs, config))
        return self._local

    @property
    def reports(self) -> Path:
        return self.layout.reports

    @property
    def envs(self) -> Path:
        return self.layout.envs

    @property
    def deadline(self) -> int:
        """The whole suite's bound; pytest-timeout catches single hung tests long before."""
        return self.project.timeout * 4


def now() -> str:
    """UTC, to the second: every time a record or report carries."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def rel(path: Path, ctx: Context | None = None) -> str:
    """A path as shown to people and stored in records: relative to the project root (else the working
    directory) when it lies under it."""
    base = ctx.project.root if ctx is not None else Path.cwd()
    try:
        return str(Path(path).resolve().relative_to(Path(base).resolve()))
    except ValueError:
        return str(path)
