"""`tfpin init` selects what pytest itself collects, on the layouts users' projects have; checked by running the
selection in a real cell (faultkit's TF-free one) and reading which modules its JUnit holds."""
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from faultkit import GOOD_CELL, MATRIX, harness_env, tfpin
from test_faults_projects import write

from tfpin import junit

TEST = "def test_it():\n    assert True\n"
LAYOUTS = {
    # name: (files, the modules pytest collects there (by pytest's rules, worked out by hand), expected `test`)
    "tests-dir": ({"tests/test_a.py": TEST, "tests/sub/test_b.py": "class TestB:\n    def test_b(self):\n"
                   "        pass\n", "tests/helpers.py": "def helper():\n    return 1\n",
                   "tests/conftest.py": ""},
                  {"tests/test_a.py", "tests/sub/test_b.py"}, ["tests"]),
    # TensorFlow's own convention: *_test.py beside the code, and a helper named like a test module
    "beside-the-code": ({"mylib/__init__.py": "", "mylib/model.py": "X = 1\n", "mylib/model_test.py": TEST,
                         "mylib/io_test.py": TEST, "mylib/test_util.py": "def make_data():\n    return [1]\n"},
                        {"mylib/model_test.py", "mylib/io_test.py"}, ["mylib"]),
    # a package with its own pytest configuration: testpaths and python_files of its own
    "own-pytest-config": ({"pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["src/pkg/checks"]\n'
                                             'python_files = ["check_*.py"]\n',
                           "src/pkg/checks/check_model.py": TEST, "tests/test_decoy.py": TEST},
                          {"src/pkg/checks/check_model.py"}, ["src/pkg/checks"]),
}


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    return tmp_path_factory.mktemp("envs")


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_init_selects_what_pytest_collects(tmp_path, envs, layout):
    files, collected, expected = LAYOUTS[layout]
    project = write(tmp_path / "p", dict(files, **{"faults.toml": MATRIX}))
    out = subprocess.run([sys.executable, "-m", "tfpin", "init"], cwd=project, capture_output=True, text=True,
                         env=harness_env())
    assert out.returncode == 0, out.stderr
    config = (project / "tfpin.toml").read_text()
    assert "test = [%s]" % ", ".join('"%s"' % t for t in expected) in config
    assert "%d test modules pytest collects" % len(collected) in out.stdout or "testpaths" in out.stdout
    if layout == "beside-the-code":
        assert "not tests (they match python_files but define no test): mylib/test_util.py" in out.stdout
    (project / "tfpin.toml").write_text(config.replace('matrix = "table"', 'matrix = "faults.toml"'))
    run = tfpin(project, "cell", GOOD_CELL, envs=envs)
    assert run.returncode == 0, run.stdout + run.stderr
    report = ET.parse(project / "reports" / "junit" / (GOOD_CELL + ".xml")).getroot()
    assert {junit.test_id(case).split("::")[0] for case in report.iter("testcase")} == collected
