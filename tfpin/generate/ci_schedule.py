"""`tfpin ci github|gitlab --schedule CRON`: the scheduled drift watch both generators add.

A TF1 pin breaks without a commit when a transitive release appears on the index, so the scheduled pipeline runs
`tfpin drift` (each cell resolved afresh, the suite run where its set changed) instead of the push/PR cell jobs:
those resolve afresh too, but cannot say what moved, and running both would double the scheduled cost. One drift
job per Python, in that Python's image, as the cell jobs are (no image holds two of 3.6/3.7). GitHub reads the
schedule from the workflow file; GitLab keeps schedules in the project (UI or API), so for GitLab this module
also says how to create one. Only the CRON text is checked here; the jobs are built by ci_github and ci_gitlab.
"""
from __future__ import annotations

import re

# Fields in order, with the numbers each allows: the five-field POSIX form both GitHub and GitLab read (names such
# as MON, @daily and a sixth seconds field are read by one and not the other, so neither is written).
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6))
_ITEM = re.compile(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?")
DRIFT_REPORTS = ("drift.md", "drift.json")
DRIFT_STAGE = "drift"
GITHUB_EVIDENCE_JOB = "drift-evidence"
# Drift compares today's index against each cell's lock and last result (reports/locks, reports/cells), which a
# scheduled run's fresh checkout lacks: the newest finished push run of this same workflow file on this branch
# left them as its cell artifacts. gh is on the runner (not in the cell images), so this runs on the runner.
GITHUB_LAST_PUSH_RUN = (
    'wf="${GITHUB_WORKFLOW_REF%%@*}"; wf="${wf##*/}"\n'
    'id=$(gh run list --repo "$GITHUB_REPOSITORY" --workflow "$wf" --branch "$GITHUB_REF_NAME" --event push '
    '--status completed --limit 1 --json databaseId --jq \'.[0].databaseId\')\n'
    'if [ -z "$id" ]; then echo "::error::no finished push run of $wf on $GITHUB_REF_NAME: its cell jobs write the '
    'locks drift compares today against"; exit 1; fi\n'
    'echo "run-id=$id" >> "$GITHUB_OUTPUT"\n')


def _field_ok(text: str, low: int, high: int) -> bool:
    for item in text.split(","):
        m = _ITEM.fullmatch(item)
        if m is None:
            return False
        first, last, step = m.group(2), m.group(3), m.group(4)
        numbers = [int(n) for n in (first, last) if n is not None]
        if any(not low <= n <= high for n in numbers) or (last is not None and int(last) < int(first)):
            return False
        if step is not None and int(step) < 1:
            return False
    return True


def check_cron(value: str) -> str:
    """The schedule as written into the CI file (fields joined by one space), or ValueError naming the option,
    the field that is wrong and what it allows."""
    fields = value.split()
    if len(fields) != len(FIELDS):
        raise ValueError("--schedule %r: a schedule is 5 cron fields, minute hour day-of-month month day-of-week "
                         "(e.g. '0 6 * * 1': Mondays 06:00 UTC); got %d field(s)" % (value, len(fields)))
    for text, (name, low, high) in zip(fields, FIELDS):
        if not _field_ok(text, low, high):
            raise ValueError("--schedule %r: the %s field %r must be `*`, a number %d-%d, a range a-b, a list a,b "
                             "or any of these with a step /n (names such as MON are not read alike by GitHub and "
                             "GitLab)" % (value, name, text, low, high))
    return " ".join(fields)


def by_python(cells) -> dict:
    """{python: [cells]} in the matrix's order: one drift job per Python image."""
    groups: dict = {}
    for cell in cells:
        groups.setdefault(cell.python, []).append(cell)
    return groups


def drift_job_id(python: str) -> str:
    return "drift-py" + python.replace(".", "")


def drift_invocation(m_arg: str, cells, group) -> list[str]:
    """`tfpin drift` over the cells of one Python (all of them when the matrix has one Python and the file runs
    every cell)."""
    every = [c.id for c in group] == [c.id for c in cells]
    return ["drift", "--matrix", m_arg] + ([] if every else ["--cells", ",".join(c.id for c in group)])


def gitlab_instructions(cron: str) -> list[str]:
    """What to do after writing a GitLab pipeline with a drift job: GitLab starts scheduled pipelines from a
    schedule stored in the project, never from .gitlab-ci.yml."""
    return [
        "GitLab keeps schedules in the project, not in .gitlab-ci.yml: create one that runs on %r (UTC)," % cron,
        "  in the UI: Build > Pipeline schedules > New schedule; Interval pattern: Custom, %s; Cron timezone: UTC; "
        "Target branch: your default branch; Save pipeline schedule" % cron,
        "  or through the API (a token with the api scope in GITLAB_TOKEN; <gitlab> is your GitLab's address, "
        "<project> the project's numeric id or URL-encoded path, e.g. group%2Fproject; ref the branch to watch):",
        "    curl --request POST --header \"PRIVATE-TOKEN: $GITLAB_TOKEN\" --form description=\"tfpin drift\" "
        "--form ref=main --form cron=\"%s\" --form cron_timezone=UTC --form active=true "
        "\"https://<gitlab>/api/v4/projects/<project>/pipeline_schedules\"" % cron,
        "Scheduled pipelines run only the drift jobs (CI_PIPELINE_SOURCE == \"schedule\"); pushes and merge requests "
        "run the cell jobs.",
    ]
