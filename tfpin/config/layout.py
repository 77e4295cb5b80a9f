"""Every path tfpin writes, in one place: the report directory (`--reports`, default <project>/reports) and
the environments directory (`--envs`, default <project>/.tfpin/envs).

Spelled once so that the runner, the cache, the report, the cross step, pin discovery and the CI
generator can never disagree about where a cell's evidence is.
"""
from __future__ import annotations

from pathlib import Path

# What a cell run leaves, per cell: (directory under reports/, suffix). Kept until the cell's next run
# finishes (set aside meanwhile, restored if that run is interrupted); uploaded by each CI cell job.
# ("artifacts", ""): a directory, what the suite's tests wrote with tfpin_artifact (read by the cross step).
# ("coverage", ".coverage"): with --coverage, the cell's coverage.py data by project file names (cell/covdata.py).
EVIDENCE = (("cells", ".json"), ("junit", ".xml"), ("locks", ".txt"), ("logs", ".log"), ("artifacts", ""),
            ("coverage", ".coverage"))
# What the in-cell plugin writes while the suite runs: read, then deleted.
TRANSIENT = {"progress": ".txt", "outcome": ".outcome.json", "notices": ".notices.json", "loaded": ".loaded.json",
             "imports": ".imports.json", "retry": ".retry.xml", "coverage": ".coverage.d"}


def evidence_in(reports: Path, kind: str, cell_id: str) -> Path:
    """Where a cell's evidence of one kind is under a report directory: for readers that have only that directory
    (the compatibility file reads each cell's lock from beside the report it is written with)."""
    return Path(reports) / kind / (cell_id + dict(EVIDENCE)[kind])


class Layout:
    def __init__(self, reports: Path, envs: Path):
        self.reports, self.envs = Path(reports), Path(envs)

    @classmethod
    def of(cls, project_root: Path, reports: Path | None = None, envs: Path | None = None) -> "Layout":
        root = Path(project_root)
        return cls((reports or root / "reports").resolve(), (envs or root / ".tfpin" / "envs").resolve())

    # -- per cell ---------------------------------------------------------------------------------------------
    def evidence(self, kind: str, cell_id: str) -> Path:
        return evidence_in(self.reports, kind, cell_id)

    def result(self, cell_id: str) -> Path:
        """The latest result of a cell (what the cache re-uses and `tfpin report` joins)."""
        return self.evidence("cells", cell_id)

    def previous(self, kind: str, cell_id: str) -> Path:
        """Where a cell's last evidence waits while its next run goes."""
        return self.reports / ".previous" / kind / (cell_id + dict(EVIDENCE)[kind])

    def interrupted_log(self, cell_id: str) -> Path:
        return self.reports / "logs" / (cell_id + ".interrupted.log")

    def transient(self, kind: str, cell_id: str) -> Path:
        return self.reports / "progress" / (cell_id + TRANSIENT[kind])

    def bench(self, cell_id: str) -> Path:
        return self.bench_dir / (cell_id + ".json")

    def env(self, cell_id: str) -> Path:
        return self.envs / cell_id

    def trials(self, cell_id: str) -> Path:
        """Pin discovery's scratch env and oracle output for a cell."""
        return self.envs.parent / "pins" / cell_id

    # -- per run ----------------------------------------------------------------------------------------------
    def report(self, name: str, suffix: str = ".json") -> Path:
        return self.reports / (name + suffix)

    @property
    def bench_dir(self) -> Path:
        return self.reports / "bench"

    @property
    def artifacts(self) -> Path:
        return self.reports / "artifacts"

    @property
    def cross(self) -> Path:
        """The cross step's plans, the readers' records and JUnit, and the verdicts it made last."""
        return self.reports / "cross"

    @property
    def pins(self) -> Path:
        return self.reports / "pins"
