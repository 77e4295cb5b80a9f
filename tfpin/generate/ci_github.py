"""`tfpin ci github`: a GitHub Actions workflow with one job per matrix cell, then a report job.

Why this shape (the research is summarised in the docstrings below):
- Hosted runners no longer offer CPython 3.6 or 3.7 (setup-python has no 3.6 build for 22.04/24.04
  and no 3.7 for 24.04; uv never shipped 3.6 and dropped 3.7), so every cell job runs inside the
  frozen official `python:X.Y-bullseye` image, where `python3.6`/`python3.7` are on PATH and tfpin's
  interpreter discovery finds them as on any machine.
- tfpin itself needs Python >= 3.9, which those images do not offer as a usable environment, so it
  runs through `uv tool run` on a uv-managed Python (setup-uv brings uv, pinned).
- One job per cell, not a `strategy.matrix`: each cell is then a named, separately re-runnable
  check whose exit code is tfpin's own; the report job joins their `reports/cells/*.json` with
  `tfpin report`, which refuses results produced for another definition of a cell.
- Each cell job restores and saves uv's cache under the cell's stamp (generate/ci_cache.py); `--schedule` adds
  a cron trigger that runs only `tfpin drift` jobs (generate/ci_schedule.py).

The module only builds text (no YAML library: tfpin's runtime dependencies stay `packaging`
and `tomli`); the CLI decides where to write it.
"""
from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from tfpin import files
from tfpin.config import matrix as matrices
from tfpin.config.layout import EVIDENCE
from tfpin.generate import ci_cache, ci_schedule
from tfpin.generate.yamltext import emit
from tfpin.report import compat

RUNNER = "ubuntu-24.04"
# Actions by full commit SHA (a tag can be moved; a commit cannot), the release it is in the comment the
# file carries. Node-24 majors (Node 20 is gone from the runners). Looked up in the actions' own
# repositories: `git rev-parse <tag>^{commit}`.
ACTIONS = {
    "actions/checkout": ("fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09", "v5.1.0"),
    "astral-sh/setup-uv": ("11f9893b081a58869d3b5fccaea48c9e9e46f990", "v8.3.2"),
    "actions/upload-artifact": ("b7c566a772e6b6bfb58ed0dc250532a479d7789f", "v6.0.0"),
    "actions/download-artifact": ("37930b1c2abaa49bbe596cd826c3c89aef350131", "v7.0.0"),
    # v5, not v4: v4.x runs on Node 20. restore and save are its two halves, used apart (see _cache_steps).
    "actions/cache": ("27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5"),
}
CHECKOUT, SETUP_UV, UPLOAD, DOWNLOAD, CACHE = ("%s@%s" % (name, ACTIONS[name][0]) for name in ACTIONS)
CACHE_RESTORE, CACHE_SAVE = (CACHE.replace("@", "/%s@" % half) for half in ("restore", "save"))
PINNED_USE = re.compile(r"^(\s*(?:- )?uses: )([\w.-]+/[\w.-]+)(?:/[\w./-]+)?@([0-9a-f]{40})$")
# uv drives 3.6 interpreters from 0.10.12 on; pinned (as in requirements/host.txt) because the
# uv that builds the cell environments is part of what a green cell proves.
UV_VERSION = "0.13.9"
TFPIN_PYTHON = "3.12"  # what tfpin runs on; the runner's system Python, a uv download in containers
ARTIFACT_PREFIX = "tfpin-cell-"
BETWEEN_PREFIX = "tfpin-between-"  # each reading cell's records of the checks between cells
BETWEEN_SUFFIX = "-between"  # the job id of a cell's readers: <cell job id>-between
JOB_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def container_image(python: str) -> str:
    """Debian-based official image for a cell's Python.

    bullseye for 3.6-3.11: the last variant built for 3.6 and 3.7, glibc 2.31 (the Node that runs
    actions inside the container needs >= 2.28). bookworm for newer Pythons, which never had bullseye
    for long. The image's own interpreter is what the cell uses.
    """
    minor = int(python.split(".")[1])
    return "python:%s-%s" % (python, "bullseye" if minor <= 11 else "bookworm")


def job_id(cell) -> str:
    """tox's spelling (py37-tf115-keras225): job ids cannot contain dots."""
    return cell.tox_env()


def git_root(start: Path) -> Path | None:
    """The nearest directory holding `.git` (a directory, or a file in worktrees and submodules)."""
    start = Path(start).resolve()
    for directory in [start, *start.parents]:
        if (directory / ".git").exists():
            return directory
    return None


def default_output(project) -> Path:
    """GitHub reads workflows only from the repository root's .github/workflows."""
    return (git_root(project.root) or Path(project.root).resolve()) / ".github" / "workflows" / "tfpin.yml"


# What a path may hold to be written into a CI file: GitHub evaluates `${{ }}` in a `run:` line before any shell
# quoting applies, and GitLab expands `$VAR` in `artifacts:paths`; a name outside this set is refused, not escaped.
SAFE_PATH_RE = re.compile(r"^[A-Za-z0-9._/+@=, -]+\Z")


def safe_path(what: str, value: str) -> str:
    if not SAFE_PATH_RE.match(value):
        raise ValueError("%s %r cannot be written into a CI file: CI systems evaluate `$`, `${{ }}`, quotes and `;` "
                         "in it before the shell sees it; rename it to letters, digits and . _ / + @ = , - or space"
                         % (what, value))
    return value


def project_dir(project) -> str:
    """The project root relative to the repository root ("." when they coincide or no git is found)."""
    root = Path(project.root).resolve()
    top = git_root(root) or root
    return safe_path("the project directory", root.relative_to(top).as_posix() or ".")


def matrix_argument(project, matrix) -> str:
    """How `--matrix` must name this matrix in CI: a built-in by name, a file relative to the project root.

    Passed explicitly (rather than left to the project's default) so that the cell jobs and the
    report job agree on the matrix even when the workflow was generated for a non-default one.
    """
    path = Path(matrix.path).resolve()
    if path.parent == matrices.MATRICES_DIR.resolve():
        return matrix.name
    root = Path(project.root).resolve()
    top = git_root(root) or root
    if top != path and top not in path.parents:
        raise ValueError("matrix file %s is outside the repository %s, so CI cannot read it; move it into "
                         "the repository" % (path, top))
    relative = safe_path("the matrix file", Path(os.path.relpath(path, root)).as_posix())
    # tfpin reads a name as a path only with a slash or a .toml suffix (as the project config does).
    return relative if "/" in relative or relative.endswith(".toml") else "./" + relative


def tfpin_command(args: list[str]) -> str:
    """tfpin in a throwaway uv tool environment, with the pinned uv as the one it builds cells with."""
    return ('uv tool run --python "$TFPIN_PYTHON" --from "$TFPIN_REQUIREMENT" --with "uv==$UV_VERSION" tfpin '
            + " ".join(shlex.quote(a) for a in args))


def _tfpin(args: list[str]) -> str:
    return tfpin_command(args) + "\n"


def generated_header(system: str, project, matrix, cells) -> str:
    """The comment a generated CI file starts with: what wrote it, from which config and matrix."""
    top = git_root(project.root) or Path(project.root).resolve()
    source = Path(os.path.relpath(Path(project.source).resolve(), top)).as_posix()
    return ("# Generated by `tfpin ci %s` from %s (matrix %s, %d cells).\n"
            "# Do not edit: change the project or its matrix and generate it again.\n"
            % (system, source, matrix_argument(project, matrix), len(cells)))


def _with_release(lines: list[str]) -> list[str]:
    """`uses: owner/name@<sha>` lines with the release that commit is, as a comment."""
    out = []
    for line in lines:
        match = PINNED_USE.match(line)
        out.append(line + "  # " + ACTIONS[match.group(2)][1] if match and match.group(2) in ACTIONS else line)
    return out


def check_requirement(tfpin_requirement: str) -> None:
    if not tfpin_requirement.strip() or files.CONTROL_RE.search(tfpin_requirement) or "${{" in tfpin_requirement:
        raise ValueError("tfpin requirement %r must be one non-empty line without `${{` (GitHub would evaluate it), "
                         "e.g. \"tfpin==0.2.0\" or a VCS URL"
                         % tfpin_requirement)


def evidence_paths(reports: str, cell_id: str) -> list[str]:
    """What a cell job keeps for the report job: the cell's result, JUnit, lock, log and artifacts."""
    return ["%s/%s/%s%s" % (reports, kind, cell_id, suffix) for kind, suffix in EVIDENCE]


def cross_invocation(matrix, cells, m_arg: str, cell) -> list[str]:
    """The `tfpin cross` arguments of one reading cell's job, over the cells the pipeline runs."""
    partial = {c.id for c in cells} != {c.id for c in matrix.cells}
    return ["cross", cell.id, "--matrix", m_arg] + (["--cells", ",".join(c.id for c in cells)] if partial else [])


def report_invocation(matrix, cells, m_arg: str) -> tuple[str, list[str]]:
    """(the report's file stem, the `tfpin report` arguments) for the cells the pipeline runs."""
    partial = {c.id for c in cells} != {c.id for c in matrix.cells}
    name = matrix.report_name(partial)
    return name, ["report", "--matrix", m_arg] + (["--cells", ",".join(c.id for c in cells)] if partial else [])


def _setup_steps() -> list[dict]:
    return [
        {"uses": CHECKOUT, "with": {"persist-credentials": False}},
        # Not setup-uv's cache: its key is a hash of lock files, not a cell; _cache_steps keys uv's cache per cell.
        {"uses": SETUP_UV, "with": {"version": "${{ env.UV_VERSION }}", "enable-cache": False}},
    ]


NOT_SCHEDULED = "github.event_name != 'schedule'"


def _cache_steps(project, matrix, cell, where: str, save: bool) -> tuple[list[dict], list[dict]]:
    """(the steps before a cell's tfpin step, the steps after it) that restore and save uv's cache: apart, since
    `actions/cache` saves only for a job that succeeded and a failing cell's downloads are as worth keeping; saved
    when the key missed (a key is written once). UV_CACHE_DIR through $GITHUB_ENV from the step's own directory:
    in a container job `github.workspace` is the host's path, not the container's."""
    prefix = "" if where == "." else where + "/"
    top = git_root(project.root) or Path(project.root).resolve()
    hashed = ", ".join("'%s'" % safe_path("a file the matrix is read from", f)
                       for f in ci_cache.definition_files(project, matrix, top))
    path = prefix + ci_cache.UV_CACHE
    before: list[dict] = [
        {"name": "Keep uv's cache in the project", "run": 'echo "UV_CACHE_DIR=$PWD/%s" >> "$GITHUB_ENV"\n'
         % ci_cache.UV_CACHE},
        {"name": "Restore uv's cache", "id": "uv-cache", "uses": CACHE_RESTORE,
         "with": {"path": path,
                  "key": ci_cache.cell_key(project, cell) + ("-${{ hashFiles(%s) }}" % hashed if hashed else ""),
                  "restore-keys": "%s%s-" % (ci_cache.KEY_PREFIX, cell.id)}},
    ]
    after: list[dict] = [
        {"name": "Save uv's cache", "if": "always() && steps.uv-cache.outputs.cache-hit != 'true'",
         "uses": CACHE_SAVE, "with": {"path": path, "key": "${{ steps.uv-cache.outputs.cache-primary-key }}"}},
    ]
    return before, after if save else []


def _cell_job(project, matrix, cell, m_arg: str, where: str, reports: str) -> dict:
    before, after = _cache_steps(project, matrix, cell, where, save=True)
    return {
        "name": cell.id,
        "runs-on": RUNNER,
        "container": {"image": container_image(cell.python)},
        "steps": _setup_steps() + before + [
            # Exit 3: the cell cannot exist (no build for its Python); the report job still judges it.
            {"name": "tfpin cell " + cell.id,
             "run": _tfpin(["cell", cell.id, "--matrix", m_arg]).rstrip("\n") + " || test $? -eq 3\n"},
        ] + after + [
            {
                # always(): a failed or timed-out cell's log and lock are the evidence most needed.
                "name": "Upload the cell reports",
                "if": "always()",
                "uses": UPLOAD,
                "with": {
                    "name": ARTIFACT_PREFIX + cell.id,
                    # Several paths: the artifact is rooted at their common ancestor, reports/.
                    "path": "".join(path + "\n" for path in evidence_paths(reports, cell.id)),
                    "if-no-files-found": "warn",
                },
            },
        ],
    }


def _between_job(project, matrix, cells, cell, ids: list[str], m_arg: str, where: str, reports: str) -> dict:
    before, _ = _cache_steps(project, matrix, cell, where, save=False)  # it builds the cell's env too
    return {
        "name": "between cells: " + cell.id,
        "needs": ids,
        "if": "always()",  # the cells that passed read each other whatever the others did
        "runs-on": RUNNER,
        "container": {"image": container_image(cell.python)},
        "steps": _setup_steps() + before + [
            {"name": "Download the cell reports", "uses": DOWNLOAD,
             "with": {"pattern": ARTIFACT_PREFIX + "*", "path": reports, "merge-multiple": True}},
            {"name": "tfpin cross " + cell.id, "run": _tfpin(cross_invocation(matrix, cells, m_arg, cell))},
            {"name": "Upload what the readers recorded", "if": "always()", "uses": UPLOAD,
             "with": {"name": BETWEEN_PREFIX + cell.id, "path": reports + "/cross/",
                      "if-no-files-found": "ignore"}},
        ],
    }


def _report_job(matrix, cells, needs: list[str], m_arg: str, reports: str) -> dict:
    name, report_args = report_invocation(matrix, cells, m_arg)
    return {
        "name": "tfpin report",
        "needs": needs,
        # always(): the report is most useful when some cell failed; tfpin report's exit code, not
        # the cells', decides this job, and it fails when any cell failed or left no valid result.
        "if": "always()",
        "runs-on": RUNNER,
        "steps": _setup_steps() + [
            {"name": "Download the cell reports", "uses": DOWNLOAD,
             "with": {"pattern": ARTIFACT_PREFIX + "*", "path": reports, "merge-multiple": True}},
            {"name": "Download what the readers between cells recorded", "uses": DOWNLOAD,
             "with": {"pattern": BETWEEN_PREFIX + "*", "path": reports + "/cross", "merge-multiple": True}},
            {"name": "tfpin report", "run": _tfpin(report_args)},
            {"name": "Job summary", "if": "always()",
             "run": "if [ -f reports/{0}.md ]; then cat reports/{0}.md >> \"$GITHUB_STEP_SUMMARY\"; fi\n".format(name)},
            {"name": "Upload the matrix report", "if": "always()", "uses": UPLOAD,
             "with": {"name": "tfpin-report",
                      # the report, and its views for other tools (compat.json, badge.json: docs/compat-file.md)
                      "path": "".join("%s/%s\n" % (reports, f) for f in [name + ".md", name + ".json"] + [
                          stem + ".json" for stem in compat.names(name)]),
                      "if-no-files-found": "warn"}},
        ],
    }


def _drift_jobs(cells, m_arg: str, reports: str) -> dict:
    """On the schedule (and a manual run): the newest push run's id (ci_schedule.GITHUB_LAST_PUSH_RUN), then one job
    per Python that downloads that run's cell evidence (the locks), runs `tfpin drift` over its cells, puts the drift
    report in the job summary whatever drift's exit code and keeps drift.json; red when drift exits non-zero (1:
    something that passed breaks now). No uv cache: drift must see the index as it is today."""
    when = "github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'"
    evidence = ci_schedule.GITHUB_EVIDENCE_JOB
    jobs = {evidence: {"name": "drift: the last push run", "if": when, "runs-on": RUNNER,
                       "permissions": {"actions": "read"}, "outputs": {"run-id": "${{ steps.last.outputs.run-id }}"},
                       "steps": [{"id": "last", "name": "The newest push run of this workflow on this branch",
                                  "working-directory": ".",  # no checkout here: the project directory is not
                                  "env": {"GH_TOKEN": "${{ github.token }}"},
                                  "run": ci_schedule.GITHUB_LAST_PUSH_RUN}]}}
    for python, group in ci_schedule.by_python(cells).items():
        jobs[ci_schedule.drift_job_id(python)] = {
            "name": "drift: py" + python, "needs": [evidence], "if": when, "runs-on": RUNNER,
            "permissions": {"contents": "read", "actions": "read"},  # actions: another run's artifacts
            "container": {"image": container_image(python)},
            "steps": _setup_steps() + [
                {"name": "Download the last push run's cell reports", "uses": DOWNLOAD,
                 "with": {"pattern": ARTIFACT_PREFIX + "*", "path": reports, "merge-multiple": True,
                          "run-id": "${{ needs.%s.outputs.run-id }}" % evidence,
                          "github-token": "${{ github.token }}"}},
                {"name": "tfpin drift", "run": _tfpin(ci_schedule.drift_invocation(m_arg, cells, group))},
                {"name": "Job summary", "if": "always()",
                 "run": "if [ -f reports/drift.md ]; then cat reports/drift.md >> \"$GITHUB_STEP_SUMMARY\"; fi\n"},
                {"name": "Upload the drift report", "if": "always()", "uses": UPLOAD,
                 "with": {"name": "tfpin-drift-py" + python,
                          "path": "".join("%s/%s\n" % (reports, f) for f in ci_schedule.DRIFT_REPORTS),
                          "if-no-files-found": "warn"}},
            ],
        }
    return jobs


def _check_cells(matrix, cells) -> list[str]:
    """The job ids of the cells, or ValueError when a cell is not the matrix's or gives no usable id."""
    if not cells:
        raise ValueError("no cells to run: the workflow needs at least one")
    known = {c.id for c in matrix.cells}
    strangers = [c.id for c in cells if c.id not in known]
    if strangers:
        raise ValueError("cell(s) %s are not in matrix %r (%s)" % (", ".join(strangers), matrix.name, matrix.path))
    ids = [job_id(c) for c in cells]
    bad = [i for i in ids if not JOB_ID_RE.match(i) or i == "report" or i.startswith("drift-")]
    clashes = sorted({i for i in ids if ids.count(i) > 1})
    if bad or clashes:
        raise ValueError("cells give unusable GitHub job ids: %s" % ", ".join(bad + clashes))
    return ids


def workflow(project, matrix, cells, tfpin_requirement: str, schedule: str | None = None) -> dict:
    """The workflow as plain data (dicts keep their order in the output). With `schedule` (a checked cron), the
    schedule runs the drift jobs only; push, pull request and a manual run keep the cell jobs."""
    check_requirement(tfpin_requirement)
    ids = _check_cells(matrix, cells)
    where = project_dir(project)
    reports = "reports" if where == "." else where + "/reports"
    m_arg = matrix_argument(project, matrix)
    jobs = {jid: _cell_job(project, matrix, cell, m_arg, where, reports) for cell, jid in zip(cells, ids)}
    between = [jid + BETWEEN_SUFFIX for jid in ids]  # the readers between cells: after every cell job, in each cell
    for cell, jid in zip(cells, between):
        jobs[jid] = _between_job(project, matrix, cells, cell, ids, m_arg, where, reports)
    jobs["report"] = _report_job(matrix, cells, ids + between, m_arg, reports)
    triggers: dict = {"push": None, "pull_request": None, "workflow_dispatch": None}
    group = "${{ github.workflow }}-${{ github.ref }}"
    if schedule is not None:
        triggers["schedule"] = [{"cron": schedule}]
        for jid in ids:  # `if` beside the name, where a reader of the file looks for it
            jobs[jid] = {"name": jobs[jid].pop("name"), "if": NOT_SCHEDULED, **jobs[jid]}
        for jid in between + ["report"]:
            jobs[jid]["if"] = "always() && " + NOT_SCHEDULED  # always() alone would run them on the schedule
        jobs.update(_drift_jobs(cells, m_arg, reports))
        group += "-${{ github.event_name == 'schedule' && 'drift' || 'cells' }}"  # a push never queues out a drift
    defaults = {"shell": "bash"}
    if where != ".":
        defaults["working-directory"] = where  # run steps only; action paths above carry the prefix
    return {
        "name": "tfpin",
        "on": triggers,
        "permissions": {"contents": "read"},
        "concurrency": {
            "group": group,
            # A newer push to a pull request supersedes the older run; pushes to a branch all finish.
            "cancel-in-progress": "${{ github.event_name == 'pull_request' }}",
        },
        # TFPIN_PYTHON: what runs tfpin itself (uv finds or installs it); the cells use the containers' Pythons.
        "env": {"TFPIN_REQUIREMENT": tfpin_requirement, "UV_VERSION": UV_VERSION, "TFPIN_PYTHON": TFPIN_PYTHON},
        "defaults": {"run": defaults},
        "jobs": jobs,
    }


def render(project, matrix, cells, tfpin_requirement: str, schedule: str | None = None) -> str:
    """The workflow file's text: `tfpin_requirement` is what `uv tool run --from` installs (a relative
    path is taken from the project root, where every step runs)."""
    data = workflow(project, matrix, cells, tfpin_requirement, schedule)
    header = generated_header("github", project, matrix, cells)
    header += ("# Actions are pinned by commit (the release in the comment). Container images are referenced by\n"
               "# tag: pin them by digest (`docker buildx imagetools inspect python:3.7-bullseye`) if you must.\n")
    jobs = data.pop("jobs")
    blocks = [header] + ["\n".join(emit({key: value}, 0)) + "\n" for key, value in data.items()]
    blocks.append("jobs:\n" + "\n".join("\n".join(_with_release(emit({jid: job}, 1))) + "\n"
                                          for jid, job in jobs.items()))
    return "\n".join(blocks)
