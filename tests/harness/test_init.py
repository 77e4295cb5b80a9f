"""`tfpin init` on the layouts users' projects have, each checked against pytest's own collection in a real cell.

The truth is pytest's, never tfpin's: `pytest --collect-only -q` typed by hand from the project root in the cell
init built gives the node ids; the `test` init wrote must collect exactly those ids (again by plain pytest), and
the JUnit of a real `tfpin cell` run must hold exactly those ids.
"""
import subprocess
import sys
import xml.etree.ElementTree as ET

import byhand
import pytest
from faultkit import MATRIX, harness_env, tfpin
from test_faults_projects import write

from tfpin.cell import junit
from tfpin.config import project as projects

NEWEST = "py3.7-six1.16.0"  # the newest cell of faultkit's matrix: the one init asks
TEST = "def test_it():\n    assert True\n"
UNITTEST = ("import unittest\n\n\nclass FooTest(unittest.TestCase):\n    def testAdds(self):\n"
            "        self.assertEqual(1 + 1, 2)\n\n    def test_more(self):\n        pass\n")
SETUP = ("from setuptools import setup\nsetup(name='mylib', version='0.1', packages=['mylib'], "
         "extras_require={'tests': ['pytest-xdist']})\n")
LAYOUTS = {
    # name: (files, expected `test` (None: left out), a line init prints)
    "tests-dir": ({"tests/test_a.py": TEST, "tests/sub/test_b.py": "class TestB:\n    def test_b(self):\n"
                   "        pass\n", "tests/helpers.py": "def helper():\n    return 1\n",
                   "tests/conftest.py": ""}, None, "2 tests in 2 modules"),
    # TensorFlow's own convention: *_test.py beside the code, and a helper named like a test module
    "beside-the-code": ({"mylib/__init__.py": "", "mylib/model.py": "X = 1\n", "mylib/model_test.py": TEST,
                         "mylib/io_test.py": TEST, "mylib/test_util.py": "def make_data():\n    return [1]\n"},
                        None, "2 tests in 2 modules"),
    # a package with its own pytest configuration: testpaths and python_files of its own
    "own-pytest-config": ({"pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["src/pkg/checks"]\n'
                                             'python_files = ["check_*.py"]\n',
                           "src/pkg/checks/check_model.py": TEST, "tests/test_decoy.py": TEST},
                          None, "pytest read pyproject.toml"),
    # the shape of most TF1 suites: unittest classes, whatever they are called, in *_test.py beside the code
    "unittest-classes": ({"mylib/__init__.py": "", "mylib/foo_test.py": UNITTEST, "bench.py": "print(1)\n"},
                         None, "2 tests in 1 module"),
    # its pytest.ini needs pytest-xdist (-n 2), which it declares only in its `tests` extra
    "test-extra": ({"setup.py": SETUP, "mylib/__init__.py": "VALUE = 3\n", "pytest.ini": "[pytest]\naddopts = -n 2\n",
                    "tests/test_value.py": "import mylib\n\n\ndef test_value():\n    assert mylib.VALUE == 3\n"},
                   None, "declares the test extra [tests]"),
    # a test module that imports a package the project declares nowhere: left out, and named with the line to add
    # (cv2's distribution is opencv-python: the index has nothing named cv2, and init says so instead of a wrong line)
    "undeclared-import": ({"tests/test_a.py": TEST, "tests/test_frames.py": "import pandas\n\n\n" + TEST,
                           "tests/test_images.py": "import cv2\n\n\n" + TEST},
                         ["tests", "--ignore=tests/test_frames.py", "--ignore=tests/test_images.py"],
                         "left out: tests/test_frames.py does not collect in py3.7-six1.16.0: ModuleNotFoundError: "
                         "No module named 'pandas'; the project does not declare `pandas`"),
}


def init(project, *args):
    return subprocess.run([sys.executable, "-m", "tfpin", "init", "--matrix", "faults.toml", *args], cwd=project,
                          capture_output=True, text=True, env=harness_env(), timeout=600)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_init_selects_what_pytest_collects(tmp_path, layout):
    files, expected, said = LAYOUTS[layout]
    project = write(tmp_path / "p", dict(files, **{"faults.toml": MATRIX}))
    out = init(project)
    assert out.returncode == 0, out.stdout + out.stderr
    assert said in out.stdout, out.stdout
    if layout == "undeclared-import":
        assert 'install = [..., "pandas"]' in out.stdout
        assert "the index has no distribution of that name: to test this module too, add the distribution that " \
               "provides the module `cv2`" in out.stdout
    config = projects.load(project)
    assert config.test == (expected or []), out.stdout
    assert ("# test = [...]" in (project / "tfpin.toml").read_text()) == (expected is None)
    python = project / ".tfpin" / "envs" / NEWEST / "bin" / "python"
    truth = byhand.collect(python, project, env=harness_env())[0]
    assert truth, "pytest collected nothing by hand in %s" % layout
    assert byhand.collect(python, project, *config.test, env=harness_env())[0] == truth
    run = tfpin(project, "cell", NEWEST)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "env reused" in run.stdout  # init built the cell the matrix runs in
    xml = ET.parse(project / "reports" / "junit" / (NEWEST + ".xml")).getroot()
    assert sorted(junit.test_id(case) for case in xml.iter("testcase")) == sorted(truth)


def test_a_test_extra_becomes_the_install_line(tmp_path):
    project = write(tmp_path / "p", {**LAYOUTS["test-extra"][0], "faults.toml": MATRIX})
    out = init(project)
    assert out.returncode == 0, out.stdout + out.stderr
    assert projects.load(project).install == [".[tests]"]
    # the extra's plugin is in the cell the matrix re-uses: pytest can honour the project's own addopts (-n 2)
    python = project / ".tfpin" / "envs" / NEWEST / "bin" / "python"
    assert subprocess.run([str(python), "-c", "import xdist"]).returncode == 0


def test_without_a_cell_init_says_its_selection_is_a_guess(tmp_path):
    """No index (a real refused connection): nothing can be built, so init reads files, knows unittest classes,
    and labels the result a guess."""
    project = write(tmp_path / "p", {"faults.toml": MATRIX, "mylib/__init__.py": "", "mylib/foo_test.py": UNITTEST})
    env = harness_env(UV_INDEX_URL="http://127.0.0.1:9/simple", UV_DEFAULT_INDEX="http://127.0.0.1:9/simple",
                      PIP_INDEX_URL="http://127.0.0.1:9/simple", UV_OFFLINE="", UV_NO_CACHE="1")
    out = subprocess.run([sys.executable, "-m", "tfpin", "init", "--matrix", "faults.toml"], cwd=project,
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no cell could be built to ask pytest" in out.stdout, out.stdout
    assert "GUESS" in (project / "tfpin.toml").read_text()
    assert projects.load(project).test == ["mylib"]


def test_init_refuses_a_second_config_and_keeps_outputs_out_of_git(tmp_path):
    project = write(tmp_path / "p", {"faults.toml": MATRIX, "tests/test_a.py": TEST, ".gitignore": "*.pyc"})
    assert init(project).returncode == 0
    assert (project / ".gitignore").read_text() == "*.pyc\n.tfpin/\nreports/\n"
    again = init(project)
    assert again.returncode == 2 and "already configures tfpin" in again.stderr


def test_test_requirement_files_become_install_lines_and_never_pin_the_stack(tmp_path):
    """A test requirements file is installed by name; one that pins tensorflow exactly gives its other lines, so
    the cell's own TensorFlow decides (the file would make every other cell unresolvable)."""
    project = write(tmp_path / "p", {"faults.toml": MATRIX, "requirements-test.txt": "toml==0.10.2\n",
                                     "requirements-dev.txt": "tensorflow==1.14.0\nsix\n",
                                     "tests/test_toml.py": "import toml\n\n\ndef test_toml():\n"
                                                           "    assert toml.__version__ == '0.10.2'\n"})
    out = init(project)
    assert out.returncode == 0, out.stdout + out.stderr
    assert projects.load(project).install == ["-r requirements-test.txt", "six"]
    assert "but tensorflow==1.14.0: the matrix decides those" in out.stdout
    run = tfpin(project, "cell", NEWEST)
    assert run.returncode == 0 and "env reused" in run.stdout, run.stdout + run.stderr


def test_init_writes_valid_toml_for_any_test_path_and_reads_files_that_are_not_utf8(tmp_path):
    """A test directory named with `"` and `\\` (init wrote invalid TOML for it), a Latin-1 .gitignore and setup.cfg
    (init crashed reading them): the tfpin.toml parses back to what pytest collected, the .gitignore keeps its bytes."""
    odd = 'odd"dir\\x'
    project = write(tmp_path / "p", {"faults.toml": MATRIX, odd + "/test_a.py": TEST,
                                     "broken/test_broken.py": "import a_module_nobody_declares\n"})
    (project / ".gitignore").write_bytes(b"# caf\xe9\n*.pyc\n")
    (project / "setup.cfg").write_bytes(b"[metadata]\nauthor = Caf\xe9\n[tool:pytest]\naddopts = -q\n")
    out = init(project)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stdout + out.stderr
    assert projects.load(project).test == [odd]
    assert (project / ".gitignore").read_bytes() == b"# caf\xe9\n*.pyc\n.tfpin/\nreports/\n"
