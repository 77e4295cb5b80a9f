"""Read pytest's JUnit XML: counts and the ids of what failed, nothing else."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TypedDict

# pytest-timeout's failure message for a hung test, as the whole message from its start: "Failed: Timeout >3.0s"
# (2.1), "Failed: Timeout (>3.0s) from pytest-timeout." (2.4). Anchored: an assertion whose text merely
# contains "Timeout >5s" is a failure, not a hang.
TIMEOUT_RE = re.compile(r"^Failed: Timeout \(?>[\d.]+s")
# A test can attach a line to its cell's verdict: record_property("tfpin_note", text) (e.g. which compat
# rows the cell needed); the report shows them where the matrix asks (a migration matrix's cost).
NOTE = "tfpin_note"


class Counts(TypedDict):
    """What one JUnit report says: the counts, and the ids and lines behind them."""
    passed: int
    failed: int
    skipped: int
    errors: int
    failing: list[str]
    skip_reasons: dict[str, str]
    timed_out: list[str]
    first_error: str
    errors_by_test: dict[str, str]
    notes: list[str]
    errored: list[str]  # of the failing ids, those that errored (a fixture or setup error) rather than failed


class CorruptReport(ValueError):
    """The file is not a complete JUnit report (truncated, not XML, not pytest's shape)."""


def read(path: Path) -> Counts:
    """The counts, the failing and timed-out ids, each skip's reason, the first failure's error line, each failing
    test's error line, and the tfpin_note properties."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise CorruptReport("not well-formed XML: %s" % exc) from None
    if root.tag not in ("testsuite", "testsuites"):
        raise CorruptReport("root element is <%s>, not <testsuites>/<testsuite>" % root.tag)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if not suites:
        raise CorruptReport("no <testsuite> element")
    counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    failing, skip_reasons, timed_out, first_error, notes, errors_by_test = [], {}, [], "", [], {}
    errored: list[str] = []
    for suite in suites:
        for case in suite.iter("testcase"):
            if _nameless(case):
                continue
            tid = test_id(case)
            notes += [p.get("value", "") for p in case.iter("property") if p.get("name") == NOTE]
            kinds = {child.tag for child in case}
            bad = case.find("error") if "error" in kinds else case.find("failure")
            if bad is not None:
                if TIMEOUT_RE.search(bad.get("message") or ""):
                    timed_out.append(tid)
                errors_by_test[tid] = error_line(bad)
                first_error = first_error or errors_by_test[tid]
            if "error" in kinds:
                counts["errors"] += 1
                failing.append(tid)
                errored.append(tid)
            elif "failure" in kinds:
                counts["failed"] += 1
                failing.append(tid)
            elif "skipped" in kinds:
                counts["skipped"] += 1
                skipped = case.find("skipped")
                assert skipped is not None  # the case was counted as skipped for having this element
                reason = skipped.get("message", "")
                if reason == "collection skipped" and (skipped.text or "").strip():  # a module-level skip
                    reason = (skipped.text or "").strip()
                skip_reasons[tid] = reason
            else:
                counts["passed"] += 1
        # Collection errors are counted on the suite but have no regular testcase.
        declared_errors = int(suite.get("errors", 0))
        counted = sum(1 for c in suite.iter("testcase") if c.find("error") is not None and not _nameless(c))
        counts["errors"] += max(0, declared_errors - counted)
    return Counts(passed=counts["passed"], failed=counts["failed"], skipped=counts["skipped"], errors=counts["errors"],
                  failing=failing, skip_reasons=skip_reasons, timed_out=timed_out, first_error=first_error,
                  errors_by_test=errors_by_test, notes=notes, errored=errored)


CRASH_AT = re.compile(r"^(?P<file>[^\s:]+\.py):(?P<line>\d+): ")


def failures(path: Path) -> list[dict]:
    """[{test, file, line, message}] of each failed or erroring test: where it failed (the traceback's last
    `file:line:` of the project, else the test's own line) and its error line, for CI annotations."""
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        if bad is None or _nameless(case):
            continue
        where = [m for m in (CRASH_AT.match(ln) for ln in (bad.text or "").splitlines()) if m]
        file = where[-1].group("file") if where else case.get("file", "")
        line = int(where[-1].group("line")) if where else int(case.get("line") or 0) + 1  # pytest's is 0-based
        out.append({"test": test_id(case), "file": file, "line": line, "message": error_line(bad)})
    return out


def _nameless(case) -> bool:
    """pytest writes a `<testcase/>` with neither name nor class when a session is cut short (pytest.exit):
    it is not a test, and never a pass. One that carries an error is kept: the error is real."""
    return not case.get("name") and not case.get("classname") and not case.get("file") and \
        case.find("error") is None and case.find("failure") is None


EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt): ")


def error_line(element) -> str:
    """The line a person wants first: pytest's `E   ImportError: ...`, else the message. A SyntaxError's `E`
    lines start with its location (`File "...", line 1`) and end with the error: the error, then where."""
    said = [line[1:].strip() for line in (element.text or "").splitlines() if line.startswith("E ")]
    if said and said[0].startswith('File "'):
        error = next((line for line in said if EXCEPTION.match(line)), None)
        if error:
            return ("%s (%s)" % (error, said[0]))[:300]
    if said:
        return said[0][:300]
    return (element.get("message") or "").strip().splitlines()[0][:300] if element.get("message") else ""


def test_id(case) -> str:
    """'tests.unit.test_bn' + 'test_x[fused]' -> 'tests/unit/test_bn.py::test_x[fused]'."""
    classname, name = case.get("classname", ""), case.get("name", "")
    if not classname:  # a collection error: pytest names the module in `name` ("tests.test_io")
        return case.get("file") or name.replace(".", "/") + ".py"
    parts = classname.split(".")
    # pytest uses module path then class names; class names start with an upper-case letter.
    mod = [p for p in parts if not p[:1].isupper()]
    cls = [p for p in parts if p[:1].isupper()]
    path = "/".join(mod) + ".py" if mod else ""
    return "::".join([p for p in [path, *cls, name] if p])
