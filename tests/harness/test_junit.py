"""JUnit parsing against the XML pytest writes (xunit1 family)."""
from tfpin import junit

XML = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="py3.7-tf1.15-keras2.2.5" errors="2" failures="1" skipped="1" tests="6">
<testcase classname="tests.cell.test_bn" name="test_moving[fused]" time="0.1"/>
<testcase classname="tests.cell.test_bn" name="test_moving[keras]" time="0.1"><failure message="boom"/></testcase>
<testcase classname="tests.cell.test_gpu.TestGpu" name="test_gpu" time="0">
<skipped message="no GPU visible"/></testcase>
<testcase classname="tests.cell.test_ema" name="test_ema" time="0.2"><error message="fixture"/></testcase>
<testcase classname="tests.cell.test_ok" name="test_ok" time="0.2"/>
</testsuite></testsuites>"""


def test_counts_ids_and_skip_reasons(tmp_path):
    path = tmp_path / "j.xml"
    path.write_text(XML)
    got = junit.read(path)
    # one <error> testcase plus one collection error only declared on the suite
    assert (got["passed"], got["failed"], got["skipped"], got["errors"]) == (2, 1, 1, 2)
    assert got["failing"] == ["tests/cell/test_bn.py::test_moving[keras]", "tests/cell/test_ema.py::test_ema"]
    assert got["skip_reasons"] == {"tests/cell/test_gpu.py::TestGpu::test_gpu": "no GPU visible"}
