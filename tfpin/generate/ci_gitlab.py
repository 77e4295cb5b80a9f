"""`tfpin ci gitlab`: a .gitlab-ci.yml with one job per cell and a report job that joins them.

GitLab's `parallel: matrix` no longer aggregates test reports across matrix jobs, which is the join
`tfpin report` does, so every cell is a job of its own (in the official python:X.Y image: the image's
interpreter is the cell's), keeping its result, JUnit (also as the job's `reports: junit`, GitLab's test
view), lock, log and artifacts; the `report` job `needs` every cell job, runs `when: always`, and keeps
matrix.md / .html / .json. A cell job fails exactly when its cell fails (an `unavailable` cell, exit 3,
cannot exist and passes its job); the report job fails when any cell failed or left no valid result.
"""
from __future__ import annotations

import shlex
from pathlib import Path

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
    tfpin_command,
)
from tfpin.generate.yamltext import emit
from tfpin.report import compat

REPORT_IMAGE = "python:%s-bookworm" % TFPIN_PYTHON
# uv runs tfpin; the cell's own Python is the image's. The official installer, pinned, where uv is missing.
SETUP = ('command -v uv >/dev/null 2>&1 || (curl -LsSf "https://astral.sh/uv/$UV_VERSION/install.sh" | sh '
         '&& . "$HOME/.local/bin/env")')


def default_output(project) -> Path:
    """GitLab reads .gitlab-ci.yml at the repository root."""
    return (git_root(project.root) or Path(project.root).resolve()) / ".gitlab-ci.yml"


def pipeline(project, matrix, cells, tfpin_requirement: str) -> dict:
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
        "stages": ["cells", "between", "report"],
    }
    for cell in cells:
        junit = "%sreports/junit/%s.xml" % (prefix, cell.id)
        doc[cell.id] = {
            "stage": "cells",
            "image": container_image(cell.python),
            # Exit 3: the cell cannot exist (no build for its Python); the report job still judges it.
            "script": [SETUP] + enter + [tfpin_command(["cell", cell.id, "--matrix", m_arg]) + " || test $? -eq 3"],
            "artifacts": {
                "when": "always",
                "paths": evidence_paths(prefix + "reports", cell.id),
                "reports": {"junit": junit},
                "expire_in": "30 days",
            },
        }
    between = []
    for cell in cells:  # the readers between cells: once every cell job is done, in each cell
        between.append(cell.id + BETWEEN_SUFFIX)
        doc[between[-1]] = {
            "stage": "between",
            "image": container_image(cell.python),
            "needs": [{"job": c.id, "artifacts": True} for c in cells],
            "when": "always",  # the cells that passed read each other whatever the others did
            "script": [SETUP] + enter + [tfpin_command(cross_invocation(matrix, cells, m_arg, cell))],
            "artifacts": {"when": "always", "paths": [prefix + "reports/cross/"], "expire_in": "30 days"},
        }
    name, report_args = report_invocation(matrix, cells, m_arg)
    doc["report"] = {
        "stage": "report",
        "image": REPORT_IMAGE,
        "needs": [{"job": job, "artifacts": True} for job in [c.id for c in cells] + between],
        "when": "always",
        "script": [SETUP] + enter + [tfpin_command(report_args)],
        "artifacts": {
            "when": "always",
            "paths": ["%sreports/%s" % (prefix, f) for f in [name + suffix for suffix in (".md", ".html", ".json")]
                      + [stem + ".json" for stem in compat.names(name)]],  # the views for other tools too
            "expire_in": "30 days",
        },
    }
    return doc


def render(project, matrix, cells, tfpin_requirement: str) -> str:
    data = pipeline(project, matrix, cells, tfpin_requirement)
    blocks = ["\n".join(emit({key: value}, 0)) + "\n" for key, value in data.items()]
    return generated_header("gitlab", project, matrix, cells) + "\n" + "\n".join(blocks)
