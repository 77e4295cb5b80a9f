"""The verdict cache re-uses a green only while nothing the run read has changed: each shape of a false green,
injected into real runs (real uv, pytest and Pythons, faultkit's TF-free cells).

Every test makes a green run, checks that an unchanged second run re-uses it, makes the change a user makes,
and requires the next run to run the cell again and end `failed`, quoting the suite's own assertion. The
nested `-r` pin and the installer's config files are in test_faults_projects.py; migrate's converted copy
is in test_migrate.py.
"""
import subprocess
from pathlib import Path

import pytest
from faultkit import FAULT_CELL, MATRIX, harness_env, tfpin
from test_faults_projects import cell_result, write


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    return tmp_path_factory.mktemp("envs")


def project(root: Path, files: dict, config: str = "") -> Path:
    """A TF-free project of the given files, run on faultkit's matrix."""
    return write(root, dict(files, **{"faults.toml": MATRIX, "tfpin.toml": 'matrix = "faults.toml"\n' + config}))


RUN = ("matrix", "--cells", FAULT_CELL)  # the report too: it names the host variables the cells saw


def green_then(root: Path, envs: Path, change, env=None, then_env=None) -> tuple:
    """A green run, an unchanged run that re-uses it, `change()`, and the run after: (its output, its result)."""
    first = tfpin(root, *RUN, envs=envs, env=env)
    assert first.returncode == 0 and cell_result(root)["status"] == "passed", first.stdout + first.stderr
    again = tfpin(root, *RUN, envs=envs, env=env)
    assert again.returncode == 0 and "(cached" in again.stdout, again.stdout
    change()
    out = tfpin(root, *RUN, envs=envs, env=then_env or env)
    result = cell_result(root)
    assert out.returncode == 1, out.stdout + out.stderr
    assert result["status"] == "failed" and "cached_from" not in result
    return out, result


MODE_TEST = """
import os


def test_mode():
    mode = os.environ.get("APP_MODE", "dev")
    assert mode == "dev", "APP_MODE is " + mode
"""


def test_an_undeclared_host_variable_never_reaches_a_cell(tmp_path, envs):
    """The suite would fail on APP_MODE=prod, and the host has it: the cell does not see it, whichever run."""
    root = project(tmp_path / "p", {"tests/test_mode.py": MODE_TEST}, 'test = ["tests"]\n')
    out = tfpin(root, *RUN, envs=envs, env=harness_env(APP_MODE="prod", SOME_TOKEN="secret"))
    assert out.returncode == 0, out.stdout + out.stderr
    result = cell_result(root)
    assert result["status"] == "passed"
    assert "APP_MODE" not in result["passed_env"] and "SOME_TOKEN" not in result["passed_env"]
    assert "PATH" in result["passed_env"] and "HOME" in result["passed_env"]
    md = (root / "reports" / "matrix-faults-partial.md").read_text()
    assert "## Host variables" in md and "`PATH`" in md and "APP_MODE" not in md


def test_a_declared_host_variable_is_in_the_key(tmp_path, envs):
    """pass_env = ["APP_*"]: the suite reads APP_MODE, so its value is part of what the verdict rests on."""
    root = project(tmp_path / "p", {"tests/test_mode.py": MODE_TEST}, 'test = ["tests"]\npass_env = ["APP_*"]\n')
    out, result = green_then(root, envs, lambda: None, env=harness_env(APP_MODE="dev"),
                             then_env=harness_env(APP_MODE="prod"))
    assert "changed since its last run: environ" in out.stdout
    assert "APP_MODE is prod" in result["reason"]
    assert "APP_MODE" in result["passed_env"]
    md = (root / "reports" / "matrix-faults-partial.md").read_text()
    assert "`APP_MODE`" in md and "prod" not in md.split("## Host variables")[1]


FLAT = {
    "mymod.py": "def answer():\n    return 42\n",
    "tests/test_mymod.py": "from mymod import answer\n\n\ndef test_answer():\n    assert answer() == 42\n",
}


def git(cwd: Path, *args) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.mark.parametrize("where", ["gitignored", "no-git"])
def test_code_in_a_tree_git_does_not_list_is_in_the_key(tmp_path, envs, where):
    """No `sources`: the project's files are what git lists, and here git lists none of them."""
    if where == "gitignored":
        git(tmp_path, "init", "-q")
        write(tmp_path, {".gitignore": "work/\n", "README": "a repository that ignores work/\n"})
        git(tmp_path, "add", ".")
        git(tmp_path, "commit", "-qm", "init")
        root = tmp_path / "work" / "p"
    else:
        assert subprocess.run(["git", "-C", str(tmp_path), "rev-parse"], capture_output=True).returncode != 0
        root = tmp_path / "p"
    project(root, FLAT, 'test = ["tests"]\n')
    out, result = green_then(root, envs, lambda: (root / "mymod.py").write_text("def answer():\n    return 41\n"))
    assert "loaded (mymod.py)" in out.stdout
    assert "assert 41 == 42" in result["reason"]


LIBRARY = {
    "mylib/__init__.py": "def answer():\n    return 42\n",
    "tests/conftest.py": "import pytest\n\n\n@pytest.fixture\ndef expected():\n    return 42\n",
    "tests/test_lib.py": "from mylib import answer\n\n\ndef test_answer(expected):\n    assert answer() == expected\n",
}


def test_a_conftest_outside_sources_is_in_the_key(tmp_path, envs):
    """sources names the package only; pytest loads tests/conftest.py all the same."""
    root = project(tmp_path / "p", LIBRARY, 'test = ["tests"]\nsources = ["mylib"]\n')
    out, result = green_then(root, envs, lambda: write(root, {
        "tests/conftest.py": LIBRARY["tests/conftest.py"].replace("42", "43")}))
    assert "loaded (tests/conftest.py)" in out.stdout
    assert "assert 42 == 43" in result["reason"]


ABOVE = {
    "pytest.ini": "[pytest]\napp_mode = dev\n",
    "conftest.py": ("import pytest\n\n\ndef pytest_addoption(parser):\n    parser.addini('app_mode', 'the mode')\n\n\n"
                    "@pytest.fixture\ndef limit():\n    return 10\n"),
    "sub/tests/test_mode.py": ("def test_mode(request, limit):\n    mode = request.config.getini('app_mode')\n"
                               "    assert mode == 'dev', 'app_mode is ' + mode\n    assert limit == 10\n"),
}


@pytest.mark.parametrize("changed,edit,said", [
    ("pytest.ini", ("dev", "prod"), "app_mode is prod"),
    ("conftest.py", ("return 10", "return 11"), "assert 11 == 10"),
])
def test_pytest_config_and_a_conftest_above_the_root_are_in_the_key(tmp_path, envs, changed, edit, said):
    """A folder of a monorepo: tfpin.toml in sub/, pytest's ini file and a conftest.py in the folder above."""
    write(tmp_path / "top", ABOVE)
    root = project(tmp_path / "top" / "sub", {}, 'test = ["tests"]\n')
    path = tmp_path / "top" / changed
    out, result = green_then(root, envs, lambda: path.write_text(path.read_text().replace(*edit)))
    assert "loaded (../%s)" % changed in out.stdout
    assert said in result["reason"]
    assert result["loaded"]["rootdir"] == ".." and result["loaded"]["inifile"] == "../pytest.ini"


def test_a_data_file_in_sources_is_in_the_key(tmp_path, envs):
    """The suite opens a file it never imports: declared in `sources`, its content is part of the key."""
    root = project(tmp_path / "p", {
        "data/expected.json": '{"answer": 42}\n',
        "tests/test_data.py": ("import json\n\n\ndef test_answer():\n"
                               "    assert json.load(open('data/expected.json'))['answer'] == 42\n"),
    }, 'test = ["tests"]\nsources = ["tests", "data"]\n')
    out, result = green_then(root, envs, lambda: (root / "data" / "expected.json").write_text('{"answer": 41}\n'))
    assert "changed since its last run: sources" in out.stdout
    assert "assert 41 == 42" in result["reason"]


GENERATES = """
import atexit
import importlib.util
import os
import sys
import tempfile


def test_imports_a_module_it_wrote():
    fd, path = tempfile.mkstemp(suffix=".py")
    with os.fdopen(fd, "w") as f:
        f.write("VALUE = 1\\n")
    spec = importlib.util.spec_from_file_location("generated", path)
    module = sys.modules["generated"] = importlib.util.module_from_spec(spec)  # as imp.load_source does
    spec.loader.exec_module(module)
    atexit.register(os.remove, path)  # as autograph does: the file is there until the process ends
    assert module.VALUE == 1
"""


def test_a_module_the_run_writes_itself_is_not_an_input(tmp_path, envs):
    """TF 1.14's autograph imports functions it converted from temporary files: the run's own products, gone after
    it. Were they inputs, no verdict of such a suite could ever be re-used."""
    root = project(tmp_path / "p", {"tests/test_gen.py": GENERATES}, 'test = ["tests"]\n')
    assert tfpin(root, *RUN, envs=envs).returncode == 0
    again = tfpin(root, *RUN, envs=envs)
    assert again.returncode == 0 and "(cached" in again.stdout, again.stdout
    assert list(cell_result(root)["loaded"]["files"]) == ["tests/test_gen.py"]
