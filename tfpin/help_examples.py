"""The examples each `tfpin <command> --help` ends with: data, kept apart from the parser's shape.

Every line here is parsed by the real parser in tests/harness/test_readme.py, so an example cannot name an option
that no longer exists.
"""

EXAMPLES: dict[str, list[tuple[str, str]]] = {
    "matrix": [
        ("tfpin matrix", "every cell of the project's matrix, the report and the recommended pin"),
        ("tfpin matrix --cells 'tensorflow>=1.14,!python==3.6' -- -x", "the cells that are what you ask; pytest -x"),
        ("tfpin matrix --retries 2 --fail-fast", "flaky tests named, and no new cell after the first failure"),
    ],
    "cell": [
        ("tfpin cell py3.7-tf1.15-keras2.2.5", "one cell, as its CI job runs it"),
        ("tfpin cell py3.6-tf1.12-keras2.2.4 -- -k test_restore -x", "iterate on one test of a red cell"),
    ],
    "bench": [
        ("tfpin bench", "the project's `bench` command in every cell; figures join the report"),
        ("tfpin bench --matrix distributions --cells py3.7-intel-tf1.15-keras2.2.5", "one build of another matrix"),
    ],
    "migrate": [
        ("tfpin migrate", "tf_upgrade_v2 over a copy, its tests on the TF 2.x cells of the migration matrix"),
        ("tfpin migrate --cells py3.7-tf2.0,py3.11-tf2.15 --keep", "two TF 2 cells; keep the converted tree"),
    ],
    "report": [
        ("tfpin report", "join reports/cells/*.json (one CI job per cell) into the matrix report"),
        ("tfpin report --reports ci-evidence", "the same over evidence downloaded into another directory"),
        ("tfpin report --constraints reports/constraints", "also constraints-py3.X.txt per Python, for pip -c"),
    ],
    "cross": [
        ("tfpin cross py3.7-tf1.15-keras2.2.5", "the readers between cells in one cell (a CI job after the cells)"),
        ("tfpin cross py3.6-tf1.12-keras2.2.4 --reports ci-evidence", "over evidence downloaded from every cell job"),
    ],
    "list": [
        ("tfpin list", "the cells of the project's matrix"),
        ("tfpin list --json --cells 'python==3.7'", "the Python 3.7 cells, for a CI fan-out"),
    ],
    "ci": [
        ("tfpin ci github", "write .github/workflows/tfpin.yml: a job per cell, readers, the report"),
        ("tfpin ci gitlab --output .gitlab-ci.yml", "the same for GitLab CI"),
        ("tfpin ci github --schedule '0 6 * * 1'", "also run tfpin drift every Monday 06:00 UTC"),
    ],
    "pins": [
        ("tfpin pins discover --cells py3.7-tf1.15-keras2.2.5", "the constraint pins one cell needs, measured"),
        ("tfpin pins discover --apply", "every cell, then merge the proposed pins into the matrix or tfpin.toml"),
        ("tfpin pins apply", "merge stored per-cell discoveries (one CI job per cell)"),
    ],
    "drift": [
        ("tfpin drift", "each cell resolved as of today against its last lock; a changed set runs the suite"),
        ("tfpin drift --cells py3.7-tf1.15-keras2.2.5 -q", "one cell, its answer only"),
    ],
    "init": [
        ("tfpin init", "write tfpin.toml from what pytest collects in the newest cell"),
        ("tfpin init --matrix full", "the same for a project that will run the full matrix"),
    ],
    "tox-ini": [
        ("tfpin tox-ini", "write tox.ini from the built-in matrices"),
        ("tfpin tox-ini --check", "exit 1 when tox.ini is not what tfpin would write"),
    ],
}


def epilog(command: str) -> str:
    """The `examples:` block argparse prints after a command's options."""
    lines = ["examples:"]
    for line, why in EXAMPLES.get(command, []):
        lines += ["  %s" % line, "      %s" % why]
    return "\n".join(lines)
