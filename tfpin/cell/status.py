"""The status and exit-code rules, in one place, so a report can never call a non-run a pass.

Statuses of a cell:
  passed               the suite ran, at least one test executed, nothing failed
  failed               a test failed, or zero tests executed
  error                the environment could not be built (the installer's words are quoted),
                       pytest crashed or hung, its JUnit report is missing or corrupt
  unavailable          the installer itself says no build of a pinned package exists for this
                       Python: a fact about the world, never a pass and never a failure
  missing-interpreter  this machine has no such Python: a fact about the machine; fails the run
                       unless --skip-missing-interpreters (tox's flag) accepts it
  interrupted          the run was stopped (Ctrl-C, SIGTERM) while this cell was running

Exit code of a run (`matrix`, `cell`, `report`):
  0    every cell passed or is unavailable (or missing, when accepted), and at least one test
       executed somewhere: zero executed tests is never a green run
  1    anything else
  3    nothing ran because every cell is unavailable: proves nothing, yet is not a failure either
       (a CI job for one cell that cannot exist treats 3 as done; the joined report still judges)
  130  interrupted by Ctrl-C (143 by SIGTERM)
  2    bad input (matrix, project file, cell id, report directory), refused before anything ran
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the record classify reads; status.py itself imports nothing of tfpin
    from tfpin.cell import junit

PASSED, FAILED, ERROR = "passed", "failed", "error"
UNAVAILABLE, MISSING, INTERRUPTED = "unavailable", "missing-interpreter", "interrupted"
NOT_RUN = "not-run"  # --fail-fast: a cell that never started (or was stopped) once an earlier one failed
STATUSES = (PASSED, FAILED, ERROR, UNAVAILABLE, MISSING, INTERRUPTED, NOT_RUN)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ONLY_UNAVAILABLE, EXIT_SIGINT = 0, 1, 2, 3, 130


EXIT_PYTEST_USAGE = 4  # pytest's "usage error": a bad -k expression, a test path that does not exist
SKIPPED_IMPORT = re.compile(r"could not import '([\w.]+)'")


def classify(tests: junit.Counts | None, pytest_exit, crash: str = "", outcome: dict | None = None, usage: str = "",
             pinned_modules=(), expect_outcome: bool = False) -> tuple[str, str]:
    """Status and reason for a cell whose environment was built and whose suite was started.

    tests: JUnit counts (None when pytest left no readable JUnit file); pytest_exit: its exit
    code (negative = killed by that signal); crash: what the harness saw (last test started,
    deadline passed, JUnit unreadable), quoted when there is no JUnit to go on; outcome: the in-cell
    plugin's record (collected tests, how many got an outcome, pytest's exit status), None when it
    left none; usage: pytest's own words when it refused its arguments; pinned_modules: the top-level
    modules of the cell's pinned packages (a test skipped because one of them cannot import proves
    nothing about the release); expect_outcome: the plugin's record was asked for (a cell run; a pin
    trial stops at its first failure on purpose and asks for none), so its absence is an error.
    """
    if pytest_exit == EXIT_PYTEST_USAGE:
        return ERROR, ("pytest refused its arguments (exit 4, usage error)%s: check `test` in the project's tfpin "
                       "config and any pytest args after --" % (": " + usage if usage else ""))
    if tests is None:
        return ERROR, crash or "pytest exited %s without writing a JUnit report" % pytest_exit
    hung = tests.get("timed_out", [])
    if hung:
        return ERROR, "%d test(s) hung past the per-test timeout: %s" % (len(hung), ", ".join(hung[:5]))
    executed = tests["passed"] + tests["failed"] + tests["errors"]
    if tests["failed"] or tests["errors"]:
        shown = tests.get("failing", [])[:10]
        more = len(tests.get("failing", [])) - len(shown)
        first = tests.get("first_error", "")
        return FAILED, "%d failed, %d errors: %s%s%s" % (
            tests["failed"], tests["errors"], ", ".join(shown), " (+%d more)" % more if more else "",
            "; first error: %s" % first if first else "")
    unimportable = unimportable_skips(tests.get("skip_reasons", {}), pinned_modules)
    if unimportable:
        (module, reason), count = unimportable[0], len(unimportable)
        return FAILED, ("%d test(s) skipped because pinned module '%s' could not be imported: %s: the pinned "
                        "release was not tested" % (count, module, reason))
    if executed == 0:
        return FAILED, "zero tests executed (%d skipped): a cell that runs nothing proves nothing" % tests["skipped"]
    if outcome is not None and outcome.get("with_outcome", 0) < outcome.get("collected", 0):
        missing = outcome.get("not_run") or []
        return FAILED, ("the run stopped early: %d of %d collected tests ran (pytest exited %s); not run: %s%s" % (
            outcome["with_outcome"], outcome["collected"], outcome.get("exitstatus"), ", ".join(missing[:5]),
            " (+%d more)" % (outcome["not_run_count"] - 5) if outcome.get("not_run_count", 0) > 5 else ""))
    if pytest_exit not in (0, None):
        return ERROR, "pytest exited %s although no test failed (interrupted or internal error)%s" % (
            pytest_exit, "; " + crash if crash else "")
    if outcome is None and expect_outcome:
        return ERROR, ("tfpin's in-cell plugin left no record of the session (collected tests, outcomes): pytest "
                       "ended without its session-finish hook, or the plugin was disabled")
    counted = tests["passed"] + tests["skipped"]
    seen = (outcome or {}).get("with_outcome", 0) + (outcome or {}).get("collection_skips", 0)
    if outcome is not None and counted != seen:
        return ERROR, ("the JUnit report counts %d tests but %d of the %d collected got an outcome (and %d modules "
                       "were skipped while collecting): the report is not of this run" % (
                           counted, outcome.get("with_outcome", 0), outcome.get("collected", 0),
                           outcome.get("collection_skips", 0)))
    return PASSED, ""


def unimportable_skips(skip_reasons: dict, pinned_modules) -> list:
    """[(module, reason)] of skips saying a pinned package's module could not be imported."""
    tops = {m.split("/")[0].split(".")[0] for m in pinned_modules}
    out = []
    for reason in skip_reasons.values():
        match = SKIPPED_IMPORT.search(reason or "")
        if match and match.group(1).split(".")[0] in tops:
            out.append((match.group(1), reason))
    return out


def executed(results) -> int:
    return sum(r.tests.executed for r in results)


def fails(status: str, skip_missing: bool = False) -> bool:
    """Whether a cell's status makes the run red (what --fail-fast stops at): anything but passed, unavailable, and
    with --skip-missing-interpreters a missing interpreter. A cell that did not run is not a failure of its own."""
    return status not in {PASSED, UNAVAILABLE, NOT_RUN} | ({MISSING} if skip_missing else set())


def exit_code(results, skip_missing: bool = False) -> int:
    """0 exactly when every cell passed or honestly cannot exist, and something actually ran."""
    accepted = {PASSED, UNAVAILABLE} | ({MISSING} if skip_missing else set())
    if any(r.status not in accepted for r in results):
        return EXIT_FAILED
    if executed(results) == 0:
        return EXIT_ONLY_UNAVAILABLE if results and all(r.status == UNAVAILABLE for r in results) else EXIT_FAILED
    return EXIT_OK


def exit_reason(results, skip_missing: bool = False) -> str:
    """The one line that says why a run is red (empty when it is green)."""
    accepted = {PASSED, UNAVAILABLE} | ({MISSING} if skip_missing else set())
    bad = [r for r in results if r.status not in accepted]
    if bad:
        missing = [r for r in bad if r.status == MISSING]
        line = "%d of %d cells did not pass: %s" % (
            len(bad), len(results), ", ".join("%s (%s)" % (r.id, r.status) for r in bad))
        if missing:
            pys = sorted({r.python for r in missing})
            line += ("; no interpreter for Python %s on this machine: install it (e.g. `pyenv install %s`) or put "
                     "python%s on PATH, or pass --skip-missing-interpreters to accept it"
                     % (", ".join(pys), pys[0], pys[0]))
        return line
    if executed(results) == 0:
        if results and all(r.status == UNAVAILABLE for r in results):
            return "every cell is unavailable (no build for its Python): nothing ran, nothing is proven (exit 3)"
        return "zero tests executed across %d cells: nothing was proven, so the run is not green" % len(results)
    return ""
