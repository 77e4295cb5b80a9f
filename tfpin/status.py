"""The status rules, in one place, so the report can never call a non-run a pass."""
from __future__ import annotations

PASSED, FAILED, ERROR, UNAVAILABLE = "passed", "failed", "error", "unavailable"
STATUSES = (PASSED, FAILED, ERROR, UNAVAILABLE)


def classify(tests: dict | None, pytest_exit: int | None) -> tuple[str, str]:
    """Status and reason for a cell whose environment was built and whose suite was started.

    tests: JUnit counts (None when pytest left no JUnit file); pytest_exit: its exit code.
    """
    if tests is None:
        return ERROR, "pytest exited %s without writing a JUnit report" % pytest_exit
    executed = tests["passed"] + tests["failed"] + tests["errors"]
    if tests["failed"] or tests["errors"]:
        shown = tests.get("failing", [])[:10]
        more = len(tests.get("failing", [])) - len(shown)
        return FAILED, "%d failed, %d errors: %s%s" % (
            tests["failed"], tests["errors"], ", ".join(shown), " (+%d more)" % more if more else "")
    if executed == 0:
        return FAILED, "zero tests executed (%d skipped): a cell that runs nothing proves nothing" % tests["skipped"]
    if pytest_exit not in (0, None):
        return ERROR, "pytest exited %s although no test failed (interrupted or internal error)" % pytest_exit
    return PASSED, ""
