"""The command line's shape: commands, options, help. `tfpin/__main__.py` parses with it and dispatches."""
from __future__ import annotations

import argparse
from pathlib import Path

from tfpin import __version__, commands, help_examples
from tfpin.config import matrix as matrices
from tfpin.pipeline import default_jobs_text

DESCRIPTION = """Command line: `tfpin matrix|cell|cross|bench|report|list|ci|pins|drift|init|tox-ini` (nox sessions call
these too).

Arguments after the first `--` go to pytest unchanged (`tfpin cell ID -- -k batchnorm -x`).
A run with such arguments, or with --cells, is a subset: it writes `<report>-partial.*`
and never the full matrix's report, and a filtered (`--`) result never enters a
recommendation.
"""

DRIFT = """For each selected cell, resolve its definition as of today (`uv pip compile`, no lock) and diff the
result against the lock of its last `tfpin matrix` run (reports/locks/<cell>.txt). A cell whose set changed
runs its suite on the new set in a trial env of its own (its env, lock and verdict stay as they are). Says, per
cell: unchanged; can move on (the new set passes: the new versions); or breaks (which new release, the first
error, and the pin that holds it, found by pin discovery's bisection over the changed packages). Writes
reports/drift.md and reports/drift.json. Today's index is the installer's: UV_DEFAULT_INDEX, UV_FIND_LINKS, ...

exit codes:
  0  no cell that passed breaks with today's releases
  1  a cell that passed breaks today (or a cell could not be checked)
  2  bad input (no cell has a lock yet: run `tfpin matrix` first; a bad matrix, option or project)
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tfpin", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version="tfpin " + __version__)
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp, default_matrix=None):
        sp.add_argument("--matrix", default=default_matrix,
                        help="built-in matrix (%s) or a path to a matrix .toml (default: the project's, else table)"
                        % ", ".join(matrices.available_matrices()))
        sp.add_argument("--cells", default="", help="comma-separated cell ids to run (default: all)")
        sp.add_argument("--reports", type=Path, default=None, help="report directory (default: <project>/reports)")
        sp.add_argument("--envs", type=Path, default=None, help="cell environments (default: <project>/.tfpin/envs)")
        sp.add_argument("--log-level", type=int, choices=(0, 1, 2, 3), default=None,
                        help="TF_CPP_MIN_LOG_LEVEL inside the cells: 0 all, 1 no INFO, 2 no WARNING, 3 no ERROR")
        sp.add_argument("--skip-missing-interpreters", action="store_true",
                        help="a cell whose Python is not on this machine does not fail the run (as in tox)")

    def running(sp):
        sp.add_argument("--no-cache", action="store_true",
                        help="run every cell even when nothing it depends on changed since its stored verdict")
        sp.add_argument("--retries", type=int, default=0, metavar="N",
                        help="run a failed test again, alone in a fresh pytest of its cell, up to N times; one that "
                             "then passes is `flaky`: listed and counted apart, not a failure")
        shown = sp.add_mutually_exclusive_group()
        shown.add_argument("-q", "--quiet", dest="view", action="store_const", const="quiet", default="normal",
                           help="no progress while cells run: their results and the totals only")
        shown.add_argument("-v", "--verbose", dest="view", action="store_const", const="verbose",
                           help="stream each cell's pytest output as it runs, prefixed with the cell id")

    m = sub.add_parser("matrix", help="run every cell of a matrix and write the reports (pytest args after --)")
    common(m)
    running(m)
    m.add_argument("-j", "--jobs", type=int, default=None,
                   help="cells run at once (default: %s)" % default_jobs_text())
    m.add_argument("--floors", action="store_true",
                   help="also run the suite on the lowest releases the project's install lines allow (uv's "
                        "lowest-direct), in every passed cell; a floor that fails is bisected to the lowest release "
                        "that passes")
    m.add_argument("--fail-fast", nargs="?", const="finish", choices=("finish", "now"), default=None,
                   help="after the first cell that fails, start no other (cells running finish; --fail-fast=now "
                        "stops them too); those cells are `not-run`, the exit code is 1, nothing is recommended")
    m.add_argument("--coverage", action="store_true",
                   help="run each cell's suite under coverage.py (its subprocesses too) and report the project's lines "
                        "run in every cell, only in some (which) and in none; each cell's data is kept in "
                        "reports/coverage/")
    m.set_defaults(func=commands.cmd_matrix)

    c = sub.add_parser("cell", help="run one cell of the project's matrix, else of the built-in full matrix "
                                    "(pytest args after --)")
    common(c)
    running(c)
    c.add_argument("cell_id")
    c.set_defaults(func=commands.cmd_cell)

    b = sub.add_parser("bench", help="the project's `bench` command in each cell; its figures join the report")
    common(b)
    b.set_defaults(func=commands.cmd_bench)

    mg = sub.add_parser("migrate", help="convert a copy of the project with tf_upgrade_v2 and run its tests on the "
                                        "TF 2.x cells (the original is never written to)")
    common(mg, default_matrix=None)
    running(mg)
    mg.add_argument("--from", dest="from_cell", default=None,
                    help="the TF 1.13+ cell whose tf_upgrade_v2 converts (default: the newest of the project's matrix)")
    mg.add_argument("--keep", action="store_true", help="keep the converted tree (.tfpin/migrate/converted) to diff")
    mg.set_defaults(func=commands.cmd_migrate)

    rp = sub.add_parser("report", help="join reports/cells/*.json into the matrix report (CI fan-out)")
    common(rp)
    rp.add_argument("--constraints", type=Path, default=None, metavar="DIR",
                    help="also write DIR/constraints-py3.X.txt, one per Python of the recommended requirement set: "
                         "every package its cell installed, exact (==), for `pip install -c` (created if missing)")
    rp.set_defaults(func=commands.cmd_report)

    cx = sub.add_parser("cross", help="the readers between cells in one cell, over the stored results (a CI job "
                                      "after every cell job; `tfpin report` joins them)")
    common(cx)
    cx.add_argument("cell_id")
    cx.set_defaults(func=commands.cmd_cross)

    ls = sub.add_parser("list", help="print a matrix's cells")
    common(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=commands.cmd_list)

    gh = sub.add_parser("ci", help="write a CI workflow that runs every cell as its own job")
    gh.add_argument("system", choices=("github", "gitlab"), help="the CI system: GitHub Actions or GitLab CI")
    common(gh)
    gh.add_argument("--output", type=Path, default=None,
                    help="where to write it (default at the git root: .github/workflows/tfpin.yml, .gitlab-ci.yml)")
    gh.add_argument("--tfpin", default=None,
                    help="how the jobs install tfpin: a requirement or wheel URL (default: how this tfpin was "
                         "installed: a VCS URL pinned to its commit, or tfpin==%s from an index; a local path is "
                         "refused)" % __version__)
    gh.add_argument("--schedule", default=None, metavar="CRON",
                    help="also run `tfpin drift` on this schedule, 5 cron fields in UTC (e.g. '0 6 * * 1': Mondays "
                         "06:00); scheduled runs run only the drift jobs, whose report goes to the job summary "
                         "(GitHub) or the job log and exposed artifacts (GitLab, which keeps schedules in the "
                         "project: tfpin prints how to create it)")
    gh.set_defaults(func=commands.cmd_ci)

    pn = sub.add_parser("pins", help="discover, by measurement, the constraint pins each cell needs")
    pn.add_argument("action", choices=("discover", "apply"),
                    help="discover: search each cell and write reports/pins/; apply: merge the stored results of "
                         "the selected cells into the matrix (as --apply does), refusing any that are stale")
    common(pn)
    pn.add_argument("--packages", default="", help="comma-separated packages to vary (default: every package "
                                                   "of the resolved set but the cell's exact pins)")
    pn.add_argument("-j", "--jobs", type=int, default=None, help="trials run at once (default: as many as the "
                                                                   "cores feed, measured on the trials)")
    pn.add_argument("--apply", action="store_true", help="merge the proposed pins into the matrix file (or the "
                                                         "project's config when the matrix is a built-in elsewhere)")
    pn.set_defaults(func=commands.cmd_pins)

    d = sub.add_parser("drift", help="resolve each cell as of today without its lock, diff against the lock, and run "
                                     "the suite on a changed set: which new release breaks which cell, and the pin "
                                     "that holds it", description=DRIFT)
    common(d)
    d.add_argument("-j", "--jobs", type=int, default=None, help="trials run at once (default: as many as the "
                                                                  "cores feed, measured on the trials)")
    d.add_argument("-q", "--quiet", dest="view", action="store_const", const="quiet", default="normal",
                   help="no line per trial: each cell's answer, the problems and the summary only")
    d.set_defaults(func=commands.cmd_drift)

    i = sub.add_parser("init", help="write a starter tfpin.toml in the current directory: builds the newest cell of "
                                    "the matrix and asks pytest there what it collects (asks you nothing)")
    i.add_argument("--matrix", default=matrices.DEFAULT_MATRIX,
                   help="the matrix the project will run; init builds its newest available cell (default: %(default)s)")
    i.add_argument("--reports", type=Path, default=None, help=argparse.SUPPRESS)
    i.add_argument("--envs", type=Path, default=None, help="cell environments (default: <project>/.tfpin/envs)")
    running_view = i.add_mutually_exclusive_group()
    running_view.add_argument("-q", "--quiet", dest="view", action="store_const", const="quiet", default="normal",
                              help="no progress while the cell is built")
    i.set_defaults(func=commands.cmd_init)

    t = sub.add_parser("tox-ini", help="write tox.ini from the built-in matrices (or --check that it is current)")
    t.add_argument("--check", action="store_true")
    t.add_argument("--force", action="store_true",
                   help="replace the tox sections of a tox.ini tfpin did not write (its other sections are kept)")
    t.set_defaults(func=commands.cmd_tox)
    for name, command in sub.choices.items():
        command.epilog = help_examples.epilog(name)
        command.formatter_class = argparse.RawDescriptionHelpFormatter
    return p
