"""Status rules: nothing that did not run can be reported as passed."""
import pytest

from tfpin.cell.status import classify


def counts(passed=0, failed=0, skipped=0, errors=0, failing=()):
    return {"passed": passed, "failed": failed, "skipped": skipped, "errors": errors, "failing": list(failing)}


@pytest.mark.parametrize("tests,exit_code,status,fragment", [
    (counts(passed=12, skipped=1), 0, "passed", ""),
    (counts(), 5, "failed", "zero tests executed"),
    (counts(skipped=7), 0, "failed", "zero tests executed (7 skipped)"),
    (counts(passed=3, failed=1, failing=["tests/cell/test_bn.py::test_x[fused]"]), 1, "failed",
     "tests/cell/test_bn.py::test_x[fused]"),
    (counts(passed=3, errors=1, failing=["tests/cell/test_a.py"]), 2, "failed", "1 errors"),
    (counts(passed=3), 2, "error", "interrupted or internal error"),
    (None, -9, "error", "without writing a JUnit report"),
])
def test_classify(tests, exit_code, status, fragment):
    got, reason = classify(tests, exit_code)
    assert got == status
    assert fragment in reason


def test_failing_list_is_capped_but_counted():
    failing = ["t::case%d" % i for i in range(14)]
    _, reason = classify(counts(failed=14, failing=failing), 1)
    assert "t::case9" in reason and "t::case10" not in reason and "(+4 more)" in reason


def cell(status, passed=0):
    from tfpin.cell.result import CellResult, Counts

    return CellResult(id="c-" + status, python="3.6", requirements={}, constraints=[], definition={}, stamp="s",
                      selection=None, started="t0", harness={}, status=status, tests=Counts(passed=passed))


@pytest.mark.parametrize("results,skip_missing,code", [
    ([cell("passed", 5), cell("unavailable")], False, 0),
    ([cell("passed", 5), cell("missing-interpreter")], False, 1),
    ([cell("passed", 5), cell("missing-interpreter")], True, 0),
    ([cell("missing-interpreter"), cell("missing-interpreter")], True, 1),  # nothing ran: never green
    ([cell("unavailable")], False, 3),
    ([cell("unavailable"), cell("missing-interpreter")], True, 1),
    ([], False, 1),
    ([cell("passed", 5), cell("interrupted")], False, 1),
    ([cell("passed", 5), cell("error")], True, 1),
])
def test_exit_code(results, skip_missing, code):
    from tfpin.cell.status import exit_code, exit_reason

    assert exit_code(results, skip_missing) == code
    assert bool(exit_reason(results, skip_missing)) == bool(code)


def test_hung_tests_are_an_error_naming_them():
    status, reason = classify(dict(counts(passed=2, failed=1, failing=["t::slow"]), timed_out=["t::slow"]), 1)
    assert status == "error" and "hung past the per-test timeout: t::slow" in reason


def outcome(collected, with_outcome, exitstatus=0):
    return {"collected": collected, "with_outcome": with_outcome, "exitstatus": exitstatus,
            "not_run": ["t::x%d" % i for i in range(collected - with_outcome)],
            "not_run_count": collected - with_outcome}


@pytest.mark.parametrize("tests,exit_code,record,status,fragment", [
    (counts(passed=3), 0, outcome(3, 3), "passed", ""),
    (counts(passed=1), 0, outcome(3, 1), "failed", "the run stopped early: 1 of 3 collected tests ran"),
    (counts(passed=3), 0, None, "error", "in-cell plugin left no record"),
    (counts(passed=2), 0, outcome(3, 3), "error", "the JUnit report counts 2 tests but 3 of the 3 collected"),
    (counts(), 4, None, "error", "pytest refused its arguments (exit 4, usage error): ERROR: bad -k"),
], ids=["complete", "stopped early", "no record", "counts disagree", "usage error"])
def test_a_pass_needs_a_complete_run(tests, exit_code, record, status, fragment):
    got, reason = classify(tests, exit_code, outcome=record, usage="ERROR: bad -k", expect_outcome=True)
    assert got == status and fragment in reason


def test_a_skip_because_a_pinned_module_cannot_import_fails():
    tests = dict(counts(passed=1, skipped=2), skip_reasons={
        "t::a": "could not import 'tensorflow': libcublas.so.9.0: cannot open shared object file",
        "t::b": "could not import 'matplotlib': No module named 'matplotlib'"})
    status, reason = classify(tests, 0, pinned_modules=["tensorflow"])
    assert status == "failed" and "pinned module 'tensorflow' could not be imported: could not import" in reason
    assert classify(tests, 0, pinned_modules=["keras"])[0] == "passed"  # an optional extra may be skipped
