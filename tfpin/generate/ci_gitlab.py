"""`tfpin ci gitlab`: a .gitlab-ci.yml with one job per cell and a report job that joins them.

GitLab's `parallel: matrix` no longer aggregates test reports across matrix jobs, which is the join
`tfpin report` does, so every cell is a job of its own (in the official python:X.Y image: the image's
interpreter is the cell's), keeping its result, JUnit (also as the job's `reports: junit`, GitLab's test
view), lock, log and artifacts; the `report` job `needs` every cell job, runs `when: always`, and keeps
matrix.md / .html / .json. A cell job fails exactly when its cell fails (an `unavailable` cell, exit 3,
cannot exist and passes its job); the report job fails when any cell failed or left no valid result.
Cell and readers' jobs keep uv's cache (`cache:`, tfpin/generate/ci_cache.py); `--schedule` adds drift jobs that
only scheduled pipelines run (tfpin/generate/ci_schedule.py).
"""
from __future__ import annotations

import shlex
from pathlib import Path

from tfpin.generate import ci_cache, ci_schedule
from tfpin.generate.ci_github import (
    BETWEEN_SUFFIX,
    TFPIN_PYTHON,
    UV_VERSION,
    check_requirement,
    container_image,
    cross_invocation,
    evidence_paths,
    generated_header,
    git_root,
    matrix_argument,
    project_dir,
    report_invocation,
    safe_path,
    tfpin_command,
)
from tfpin.generate.yamltext import emit
from tfpin.report import compat

REPORT_IMAGE = "python:%s-bookworm" % TFPIN_PYTHON
# uv runs tfpin; the cell's own Python is the image's. The official installer, pinned, where uv is missing.
SETUP = ('command -v uv >/dev/null 2>&1 || (curl -LsSf "https://astral.sh/uv/$UV_VERSION/install.sh" | sh '
         '&& . "$HOME/.local/bin/env")')
SCHEDULED = '$CI_PIPELINE_SOURCE == "schedule"'
# uv's cache where the job's `cache:` keeps it, from the project directory the script is in: not through
# $CI_PROJECT_DIR, which gitlab-ci-local's shell executor sets to the container's path for a job with an image.
KEEP_CACHE = 'export UV_CACHE_DIR="$PWD/%s"' % ci_cache.UV_CACHE


def default_output(project) -> Path:
    """GitLab reads .gitlab-ci.yml at the repository root."""
    return (git_root(project.root) or Path(project.root).resolve()) / ".gitlab-ci.yml"


def _cache(project, matrix, cell, prefix: str, policy: str) -> list[dict]:
    """uv's cache of a cell (tfpin/generate/ci_cache.py): keyed by the cell's stamp and (GitLab reads two at most)
    the config and matrix files; `when: always`, since a failing cell's downloads are as worth keeping."""
    top = git_root(project.root) or Path(project.root).resolve()
    files = [safe_path("a file the matrix is read from", f) for f in ci_cache.definition_files(project, matrix, top)]
    fixed = ci_cache.cell_key(project, cell)
    key = {"files": files[:2], "prefix": fixed} if files else fixed
    return [{"key": key, "paths": [prefix + ci_cache.UV_CACHE + "/"], "policy": policy, "when": "always"}]


def _unless_scheduled(job: dict, when: str, schedule: str | None) -> dict:
    """With a schedule, the cell, readers' and report jobs stay out of scheduled pipelines (rules, which cannot sit
    beside a job's `when`); without one the job is as it always was."""
    if schedule is None:
        if when != "on_success":
            job["when"] = when
        return job
    return {"stage": job.pop("stage"), "rules": [{"if": SCHEDULED, "when": "never"}, {"when": when}], **job}


def _drift_jobs(cells, m_arg: str, prefix: str, enter: list[str]) -> dict:
    """One job per Python in scheduled pipelines only: `tfpin drift` over its cells; the drift report printed in the
    job's log (after_script runs whatever drift's exit code) and kept as artifacts shown on merge requests and the
    pipeline page (`expose_as`). No uv cache: drift must see the index as it is today."""
    jobs = {}
    for python, group in ci_schedule.by_python(cells).items():
        jobs[ci_schedule.drift_job_id(python)] = {
            "stage": ci_schedule.DRIFT_STAGE,
            "image": container_image(python),
            "rules": [{"if": SCHEDULED}],
            "script": [SETUP] + enter + [tfpin_command(ci_schedule.drift_invocation(m_arg, cells, group))],
            "after_script": ["cat %sreports/drift.md 2>/dev/null || echo 'tfpin drift wrote no report'" % prefix],
            "artifacts": {
                "when": "always",
                "expose_as": "tfpin drift py" + python,
                "paths": ["%sreports/%s" % (prefix, f) for f in ci_schedule.DRIFT_REPORTS],
                "expire_in": "30 days",
            },
        }
    return jobs


def pipeline(project, matrix, cells, tfpin_requirement: str, schedule: str | None = None) -> dict:
    """The pipeline as plain data. With `schedule` (a checked cron), scheduled pipelines run the drift jobs only;
    the schedule itself is made in GitLab (ci_schedule.gitlab_instructions)."""
    check_requirement(tfpin_requirement)
    if not cells:
        raise ValueError("no cells to run: the pipeline needs at least one")
    where = project_dir(project)
    prefix = "" if where == "." else where + "/"
    m_arg = matrix_argument(project, matrix)
    enter = [] if where == "." else ["cd %s" % shlex.quote(where)]
    doc = {
        # TFPIN_PYTHON: what runs tfpin itself (uv finds or installs it); the cells use the images' Pythons.
        "variables": {"TFPIN_REQUIREMENT": tfpin_requirement, "UV_VERSION": UV_VERSION, "TFPIN_PYTHON": TFPIN_PYTHON},
        "stages": ["cells", "between", "report"] + ([ci_schedule.DRIFT_STAGE] if schedule else []),
    }
    for cell in cells:
        junit = "%sreports/junit/%s.xml" % (prefix, cell.id)
        doc[cell.id] = _unless_scheduled({
            "stage": "cells",
            "image": container_image(cell.python),
            # Exit 3: the cell cannot exist (no build for its Python); the report job still judges it.
            "script": [SETUP] + enter + [KEEP_CACHE,
                                         tfpin_command(["cell", cell.id, "--matrix", m_arg]) + " || test $? -eq 3"],
            "cache": _cache(project, matrix, cell, prefix, "pull-push"),
            "artifacts": {
                "when": "always",
                "paths": evidence_paths(prefix + "reports", cell.id),
                "reports": {"junit": junit},
                "expire_in": "30 days",
            },
        }, "on_success", schedule)
    between = []
    for cell in cells:  # the readers between cells: once every cell job is done, in each cell
        between.append(cell.id + BETWEEN_SUFFIX)
        doc[between[-1]] = _unless_scheduled({
            "stage": "between",
            "image": container_image(cell.python),
            "needs": [{"job": c.id, "artifacts": True} for c in cells],
            # always: the cells that passed read each other whatever the others did
            "script": [SETUP] + enter + [KEEP_CACHE, tfpin_command(cross_invocation(matrix, cells, m_arg, cell))],
            "cache": _cache(project, matrix, cell, prefix, "pull"),  # it builds the cell's env too
            "artifacts": {"when": "always", "paths": [prefix + "reports/cross/"], "expire_in": "30 days"},
        }, "always", schedule)
    name, report_args = report_invocation(matrix, cells, m_arg)
    doc["report"] = _unless_scheduled({
        "stage": "report",
        "image": REPORT_IMAGE,
        "needs": [{"job": job, "artifacts": True} for job in [c.id for c in cells] + between],
        "script": [SETUP] + enter + [tfpin_command(report_args)],
        "artifacts": {
            "when": "always",
            "paths": ["%sreports/%s" % (prefix, f) for f in [name + suffix for suffix in (".md", ".html", ".json")]
                      + [stem + ".json" for stem in compat.names(name)]],  # the views for other tools too
            "expire_in": "30 days",
        },
    }, "always", schedule)
    if schedule is not None:
        doc.update(_drift_jobs(cells, m_arg, prefix, enter))
    return doc


def render(project, matrix, cells, tfpin_requirement: str, schedule: str | None = None) -> str:
    data = pipeline(project, matrix, cells, tfpin_requirement, schedule)
    blocks = ["\n".join(emit({key: value}, 0)) + "\n" for key, value in data.items()]
    return generated_header("gitlab", project, matrix, cells) + "\n" + "\n".join(blocks)
