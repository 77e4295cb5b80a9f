"""JUnit parsing against the XML pytest writes (xunit1 family)."""
from tfpin.cell import junit

XML = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="py3.7-tf1.15-keras2.2.5" errors="3" failures="1" skipped="1" tests="7">
<testcase classname="tests.cell.test_bn" name="test_moving[fused]" time="0.1"/>
<testcase classname="tests.cell.test_bn" name="test_moving[keras]" time="0.1"><failure message="boom"/></testcase>
<testcase classname="tests.cell.test_gpu.TestGpu" name="test_gpu" time="0">
<skipped message="no GPU visible"/></testcase>
<testcase classname="tests.cell.test_ema" name="test_ema" time="0.2"><error message="fixture"/></testcase>
<testcase classname="tests.cell.test_ok" name="test_ok" time="0.2"/>
<testcase classname="" file="tests/test_io.py" name="tests.test_io" time="0"><error message="collection failure">
E   AttributeError: module 'tensorflow._api.v1.compat' has no attribute 'v1'</error></testcase>
</testsuite></testsuites>"""


def test_counts_ids_and_skip_reasons(tmp_path):
    path = tmp_path / "j.xml"
    path.write_text(XML)
    got = junit.read(path)
    # one <error> testcase, one collection error as a testcase, one only declared on the suite
    assert (got["passed"], got["failed"], got["skipped"], got["errors"]) == (2, 1, 1, 3)
    assert got["failing"] == ["tests/cell/test_bn.py::test_moving[keras]", "tests/cell/test_ema.py::test_ema",
                              "tests/test_io.py"]
    assert got["first_error"] == "boom"  # the first failure's message (it has no `E ` lines)
    assert got["skip_reasons"] == {"tests/cell/test_gpu.py::TestGpu::test_gpu": "no GPU visible"}


def test_collection_error_is_named_by_its_file_and_quoted(tmp_path):
    path = tmp_path / "j.xml"
    path.write_text('''<testsuites><testsuite errors="1" tests="1"><testcase classname="" file="tests/test_io.py"
name="tests.test_io"><error message="collection failure">tests/test_io.py:3: in &lt;module&gt;
    tf1 = tf.compat.v1
E   AttributeError: module 'tensorflow._api.v1.compat' has no attribute 'v1'</error></testcase></testsuite>
</testsuites>''')
    got = junit.read(path)
    assert got["failing"] == ["tests/test_io.py"] and got["errors"] == 1
    assert got["first_error"] == "AttributeError: module 'tensorflow._api.v1.compat' has no attribute 'v1'"


def test_notes_come_from_record_property_in_a_real_pytest_run(tmp_path):
    """A test attaches a line to its cell's verdict with record_property("tfpin_note", ...): the JUnit pytest
    writes (xunit1, as in cells) carries it, other properties do not become notes."""
    import subprocess
    import sys

    (tmp_path / "test_n.py").write_text(
        "def test_a(record_property):\n"
        "    record_property('tfpin_note', 'compat rows: Session (2.0)')\n"
        "    record_property('other', 'x')\n"
        "def test_b():\n"
        "    pass\n")
    xml = tmp_path / "j.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_n.py"),
                    "--junitxml", str(xml), "-o", "junit_family=xunit1"], check=True, capture_output=True)
    got = junit.read(xml)
    assert got["notes"] == ["compat rows: Session (2.0)"] and got["passed"] == 2


def test_nameless_testcases_are_not_tests_and_only_pytest_timeouts_are_hangs(tmp_path):
    path = tmp_path / "j.xml"
    path.write_text('''<testsuites><testsuite errors="0" failures="2" tests="4">
<testcase classname="tests.test_a" name="test_ok" time="0.1"/>
<testcase time="0.0"/>
<testcase classname="tests.test_a" name="test_hangs" time="3"><failure message="Failed: Timeout &gt;3.0s">
+++ Timeout +++</failure></testcase>
<testcase classname="tests.test_a" name="test_says_timeout" time="0.1">
<failure message="AssertionError: Timeout &gt;5s waiting for the queue">E   AssertionError</failure></testcase>
</testsuite></testsuites>''')
    got = junit.read(path)
    assert (got["passed"], got["failed"]) == (1, 2)  # the nameless <testcase/> is no pass
    assert got["timed_out"] == ["tests/test_a.py::test_hangs"]
