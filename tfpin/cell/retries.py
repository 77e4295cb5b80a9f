"""--retries N: a test that failed is run again, alone, in a fresh pytest process of the same cell, up to N times.

If it then passes it is flaky: it no longer fails the cell, it is counted apart (`tests.flaky`) and listed with
every attempt and each failure's first line (`CellResult.retries`), and the recommendation says so. A test that
fails every attempt fails the cell as before: a retry never turns a consistent failure green. Erroring tests
(fixture or collection errors) and hung ones are not retried: they are not a test that ran and lost a race.
"""
from __future__ import annotations

from tfpin import procs
from tfpin.cell import junit
from tfpin.cell.incell import cell_environ, pytest_command, read_junit


def retry_failures(cell, ctx, python, tests: junit.Counts, log, extra=()) -> tuple[junit.Counts, list[dict]]:
    """The counts once every failed test had its retries, and what each retried test did:
    [{"test", "flaky": bool, "attempts": [{"outcome": "failed" | "passed", "error": first line}, ...]}]."""
    retried = []
    for test in [t for t in tests["failing"] if t not in tests["errored"] and t not in tests["timed_out"]]:
        attempts = [{"outcome": "failed", "error": tests["errors_by_test"].get(test, "")}]
        while len(attempts) <= ctx.retries and attempts[-1]["outcome"] == "failed":
            attempts.append(_attempt(cell, ctx, python, test, len(attempts), log, extra))
        retried.append({"test": test, "flaky": attempts[-1]["outcome"] == "passed", "attempts": attempts})
    flaky = {r["test"] for r in retried if r["flaky"]}
    if not flaky:
        return tests, retried
    failing = [t for t in tests["failing"] if t not in flaky]
    errors_by_test = {t: e for t, e in tests["errors_by_test"].items() if t not in flaky}
    adjusted = junit.Counts(passed=tests["passed"] + len(flaky), failed=tests["failed"] - len(flaky),
                            skipped=tests["skipped"], errors=tests["errors"], failing=failing,
                            skip_reasons=tests["skip_reasons"], timed_out=tests["timed_out"],
                            first_error=next((errors_by_test[t] for t in failing if t in errors_by_test), ""),
                            errors_by_test=errors_by_test, notes=tests["notes"], errored=tests["errored"])
    return adjusted, retried


def _attempt(cell, ctx, python, test: str, number: int, log, extra) -> dict:
    """One fresh pytest process running `test` alone (with the suite's `extra` options: its per-test timeout);
    its outcome and, when it failed, its first error line."""
    xml = ctx.layout.transient("retry", cell.id)
    cmd = pytest_command(python, [test], xml, "-o", "junit_suite_name=%s-retry" % cell.id, *extra)
    log("== retry %d of %s" % (number, test))
    code, out = procs.run(cmd, cwd=ctx.project.root, env=cell_environ(cell, ctx), timeout=ctx.deadline)
    log(out or "")
    counts, unreadable = read_junit(xml, code)
    if counts is not None and counts["passed"] == 1 and not counts["failed"] and not counts["errors"]:
        return {"outcome": "passed", "error": ""}
    error = (counts["first_error"] if counts else "") or unreadable or "pytest exited %s" % code
    return {"outcome": "failed", "error": error}
