"""Read pytest's JUnit XML: counts and the ids of what failed, nothing else."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path


def read(path: Path) -> dict:
    """{'passed', 'failed', 'skipped', 'errors', 'failing': [test ids], 'skip_reasons': {id: reason}}."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    failing, skip_reasons = [], {}
    for suite in suites:
        for case in suite.iter("testcase"):
            tid = test_id(case)
            kinds = {child.tag for child in case}
            if "error" in kinds:
                counts["errors"] += 1
                failing.append(tid)
            elif "failure" in kinds:
                counts["failed"] += 1
                failing.append(tid)
            elif "skipped" in kinds:
                counts["skipped"] += 1
                skip_reasons[tid] = case.find("skipped").get("message", "")
            else:
                counts["passed"] += 1
        # Collection errors are counted on the suite but have no regular testcase.
        declared_errors = int(suite.get("errors", 0))
        counted = sum(1 for c in suite.iter("testcase") if c.find("error") is not None)
        counts["errors"] += max(0, declared_errors - counted)
    return {**counts, "failing": failing, "skip_reasons": skip_reasons}


def test_id(case) -> str:
    """'tests.cell.test_bn' + 'test_x[fused]' -> 'tests/cell/test_bn.py::test_x[fused]'."""
    classname, name = case.get("classname", ""), case.get("name", "")
    parts = classname.split(".")
    # pytest uses module path then class names; class names start with an upper-case letter.
    mod = [p for p in parts if not p[:1].isupper()]
    cls = [p for p in parts if p[:1].isupper()]
    path = "/".join(mod) + ".py" if mod else ""
    return "::".join([p for p in [path, *cls, name] if p])
