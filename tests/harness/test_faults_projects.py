"""Faults in the shapes users' projects have, injected into real harness runs (real uv, pytest, Pythons).

Each test builds a TF-free project the way a library or an application is laid out (src layout with
`install = ["."]`, a flat package, an editable install, a suite with optional imports, a plugin that
ends the session early), changes or breaks it between runs as a user would, and asserts the verdict,
the exit code, the message and what is kept. See test_faults.py for the faults of this repository's
own shape; faultkit.py for the fixture matrix (six on Python 3.6 and 3.7).
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from faultkit import (
    FAULT_CELL,
    GOOD_CELL,
    MATRIX,
    harness_env,
    make_project,
    pyproject,
    report,
    running,
    start,
    started,
    statuses,
    tfpin,
    wheel,
)

from tfpin.mdtext import text as md_text


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    return tmp_path_factory.mktemp("envs")


def cell_result(project, cell=FAULT_CELL):
    return json.loads((project / "reports" / "cells" / (cell + ".json")).read_text())


def write(root: Path, files: dict) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def library(root: Path, install: str, layout: str, sources: str = "") -> Path:
    """A packaged library `mylib` (setuptools, pyproject.toml) with one test of its one function."""
    package = "src/mylib" if layout == "src" else "mylib"
    write(root, {
        "faults.toml": MATRIX,
        "pyproject.toml": pyproject("mylib", src=layout == "src", packages=["mylib"]),
        package + "/__init__.py": "def answer():\n    return 42\n",
        "tests/test_lib.py": """
            from mylib import answer


            def test_answer():
                assert answer() == 42
            """,
        "tfpin.toml": 'matrix = "faults.toml"\ntest = ["tests"]\ninstall = [%r]\n%s' % (install, sources),
    })
    return root / package / "__init__.py"


@pytest.mark.parametrize("install,layout", [(".", "src"), ("-e .", "src"), (".", "flat")],
                         ids=["src-layout", "editable", "flat-layout"])
def test_the_code_under_test_is_the_code_on_disk(tmp_path, envs, install, layout):
    """Edit the library between two runs: the second run tests the edit, is not cached, and fails."""
    project = tmp_path / "p"
    # sources = the tests only: the library's own files reach the verdict key through the install line alone
    code = library(project, install, layout, sources='sources = ["tests"]\n')
    first = tfpin(project, "matrix", "--cells", FAULT_CELL, envs=envs)
    assert first.returncode == 0, first.stdout + first.stderr
    assert cell_result(project)["status"] == "passed"
    again = tfpin(project, "matrix", "--cells", FAULT_CELL, envs=envs)
    assert "(cached" in again.stdout  # nothing changed: the verdict is re-used
    code.write_text("def answer():\n    return 41\n")
    out = tfpin(project, "matrix", "--cells", FAULT_CELL, envs=envs)
    assert out.returncode == 1, out.stdout
    result = cell_result(project)
    assert result["status"] == "failed" and "cached_from" not in result
    assert "changed since its last run: installed" in out.stdout
    assert "assert 41 == 42" in result["reason"]
    if install == ".":  # a copy in site-packages: re-installed from the tree on disk
        assert result["env"]["reinstalled"] == [str(project.resolve())]
        assert "re-installing" in (project / result["log"]).read_text()


def test_pytest_exit_zero_after_the_first_test_is_not_a_pass(tmp_path, envs):
    project = make_project(tmp_path / "p", fault="exit0")
    out = tfpin(project, "matrix", envs=envs)
    assert out.returncode == 1
    result = {c["id"]: c for c in report(project)["cells"]}[FAULT_CELL]
    assert result["status"] == "failed"
    assert "the run stopped early: 1 of 3 collected tests ran (pytest exited 0)" in result["reason"]
    assert "not run: tests/test_fixture.py::test_arithmetic, tests/test_fixture.py::test_fault" in result["reason"]
    assert result["tests"]["passed"] == 1  # what did run is still counted, the nameless <testcase/> is not
    assert report(project)["recommendation"]["requirements"] is None
    assert {c["id"]: c for c in report(project)["cells"]}[GOOD_CELL]["status"] == "passed"


def broken_wheel(directory: Path, name="cudalike", version="1.0.0") -> Path:
    """A real wheel whose import fails as a GPU build's does on a machine without its CUDA libraries."""
    return wheel(directory, name, version, {
        "%s/__init__.py" % name: "raise ImportError('libcublas.so.9.0: cannot open shared object file: No such "
                                 "file or directory')\n",
        "%s-%s.dist-info/top_level.txt" % (name, version): name + "\n"})


GUARDED = {"tests/test_optional_gpu.py": """
    import pytest

    lib = pytest.importorskip("cudalike")


    def test_on_the_gpu():
        assert lib is not None
    """}
# A conftest that imports it: pytest ends before its collection is done, so the check runs as a process of its own.
IN_CONFTEST = {"tests/conftest.py": "import cudalike  # noqa: F401\n"}


@pytest.mark.parametrize("files", [GUARDED, IN_CONFTEST], ids=["importorskip", "conftest-import"])
def test_an_unimportable_pinned_package_fails_the_cell(tmp_path, envs, files):
    project = tmp_path / "p"
    wheels = tmp_path / "wheels"
    broken_wheel(wheels)
    matrix = MATRIX.replace('six = "1.16.0"', 'six = "1.16.0"\ncudalike = "1.0.0"') + \
        '\n[packages.cudalike]\nlabel = "cudalike"\nid_parts = 3\n'
    write(project, dict(files, **{
        "faults.toml": matrix,
        "tests/test_plain.py": "def test_plain():\n    assert True\n",
        "tfpin.toml": 'matrix = "faults.toml"\ntest = ["tests"]\n',
    }))
    cell = "py3.7-six1.16.0-cudalike1.0.0"
    out = tfpin(project, "matrix", "--cells", cell, envs=envs, env=harness_env(UV_FIND_LINKS=str(wheels)))
    assert out.returncode == 1, out.stdout + out.stderr
    rep = report(project, "matrix-faults-partial")
    result = rep["cells"][0]
    assert result["status"] == "failed"
    assert result["reason"].startswith(cell + ": pinned package cudalike==1.0.0 does not import in this cell")
    assert "ImportError: libcublas.so.9.0: cannot open shared object file" in result["reason"]
    assert result["tests"]["passed"] == 0  # no test ran: test_plain would have passed
    assert rep["recommendation"]["requirements"] is None and "Recommended pin" in \
        (project / "reports" / "matrix-faults-partial.md").read_text()


def test_a_skip_for_a_pinned_module_fails_even_when_the_package_imports(tmp_path, envs):
    """The suite's own importorskip of the pinned module (here: as the suite sees it) fails the cell."""
    project = make_project(tmp_path / "p")
    write(project, {"tests/test_optional.py": """
        import os

        import pytest

        if os.environ.get("TFPIN_CELL", "").startswith("py3.7"):
            pytest.importorskip("six.moves.no_such_module")


        def test_uses_six():
            assert True
        """})
    out = tfpin(project, "matrix", "--cells", FAULT_CELL, envs=envs)
    result = report(project, "matrix-faults-partial")["cells"][0]
    assert out.returncode == 1 and result["status"] == "failed"
    assert "skipped because pinned module 'six.moves.no_such_module' could not be imported" in result["reason"]


# -- signals -------------------------------------------------------------------------------------------------

def wait_for_lines(path: Path, lines: int, seconds: float) -> list:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().split("\n")) > lines:
            time.sleep(0.5)
            return [int(p) for p in path.read_text().split()]
        time.sleep(0.2)
    raise AssertionError("the sleeping test(s) never started: %s" % path)


def test_sigint_reaches_tfpin_started_as_a_background_job(tmp_path, envs):
    """`tfpin matrix &` in a script: SIGINT arrives ignored; tfpin still stops within seconds, exit 130."""
    check = "import signal; print(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)"
    probe = subprocess.run(["bash", "-c", '"$@" & wait $!', "bash", sys.executable, "-c", check],
                           capture_output=True, text=True)
    assert probe.stdout.strip() == "True", "a job started so must inherit SIGINT ignored (the case tested)"
    project = make_project(tmp_path / "p", fault="sleep")
    pidfile = tmp_path / "tfpin.pid"
    script = '"$@" & echo $! > %s; wait $!' % pidfile
    cmd = ["bash", "-c", script, "bash", sys.executable, "-m", "tfpin", "matrix", "--envs", str(envs)]
    job = started(subprocess.Popen(cmd, cwd=project, env=harness_env(), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, start_new_session=True))
    pids = wait_for_lines(project / "pids.txt", 1, 180)
    tfpin_pid = int(pidfile.read_text())
    t0 = time.monotonic()
    os.kill(tfpin_pid, signal.SIGINT)
    stdout, stderr = job.communicate(timeout=60)
    assert job.returncode == 130, stderr
    assert time.monotonic() - t0 < 20
    assert "interrupted by SIGINT while running its tests" in stdout
    for pid in pids:
        assert not running(pid), "process %d survived" % pid


def test_a_second_signal_does_not_cut_the_cleanup_short(tmp_path, envs):
    """nox sends SIGTERM 0.3 s after Ctrl-C: the first signal's cleanup finishes, the exit code is its own."""
    project = make_project(tmp_path / "p", fault="sleep")
    proc = start(project, "matrix", "-j", "1", envs=envs)  # the 3.6 cell first, then the 3.7 one
    pids = wait_for_lines(project / "pids.txt", 1, 180)
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    rep = report(project)
    assert rep["interrupted"] is True
    assert {c["id"]: c["status"] for c in rep["cells"]} == {GOOD_CELL: "passed", FAULT_CELL: "interrupted"}
    for pid in pids:
        assert not running(pid), "process %d survived" % pid


def test_parallel_cells_hit_by_the_same_signal_are_interrupted_never_errors(tmp_path, envs):
    """-j 2, both cells' pytest get SIGINT themselves (a CI runner signalling the whole tree) just before tfpin."""
    project = make_project(tmp_path / "p", fault="sleep", fault_cell="py")
    proc = start(project, "matrix", "-j", "2", envs=envs)
    pids = wait_for_lines(project / "pids.txt", 2, 240)
    for pytest_pid in pids[::2]:
        os.kill(pytest_pid, signal.SIGINT)
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    cells = {c["id"]: c for c in report(project)["cells"]}
    assert {cid: c["status"] for cid, c in cells.items()} == {GOOD_CELL: "interrupted", FAULT_CELL: "interrupted"}
    for c in cells.values():
        assert c["reason"] == "%s: interrupted by SIGINT while running its tests" % c["id"]
    for pid in pids:
        assert not running(pid), "process %d survived" % pid


def test_sigterm_ends_pin_discovery_with_143(tmp_path, envs):
    project = make_project(tmp_path / "p", fault="sleep")
    proc = start(project, "pins", "discover", "--cells", FAULT_CELL, envs=envs)
    wait_for_lines(project / "pids.txt", 1, 240)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "interrupted by SIGTERM" in stderr and "Traceback" not in stderr


# -- evidence ------------------------------------------------------------------------------------------------

def test_a_waiting_second_run_wipes_nothing_of_the_running_one(tmp_path, envs):
    project = make_project(tmp_path / "p", fault="slow")
    first = start(project, "cell", FAULT_CELL, envs=envs)
    wait_for_lines(project / "pids.txt", 1, 180)
    log = project / "reports" / "logs" / (FAULT_CELL + ".log")
    progress = project / "reports" / "progress" / (FAULT_CELL + ".txt")
    second = start(project, "cell", FAULT_CELL, envs=envs)
    time.sleep(1.5)  # the second run is waiting for the env lock now
    assert "-m pytest tests" in log.read_text(), "the running cell's log was wiped"
    assert json.loads(progress.read_text()) == {"test": "tests/test_fixture.py::test_fault", "done": 2, "collected": 3}
    out2, _ = second.communicate(timeout=120)
    first.communicate(timeout=60)
    assert first.returncode == 0 and second.returncode == 0
    assert "waiting: another tfpin run (pid %d)" % first.pid in out2


def test_an_interrupted_rerun_keeps_the_complete_report_and_the_cells_verdict(tmp_path, envs):
    project = make_project(tmp_path / "p")
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    reports = project / "reports"
    complete = {n: (reports / n).read_text() for n in ("matrix-faults.json", "matrix-faults.md", "compat-faults.json",
                                                        "badge-faults.json", "cells/%s.json" % FAULT_CELL,
                                                        "junit/%s.xml" % FAULT_CELL)}
    make_project(project, fault="sleep")  # the suite now sleeps in the 3.7 cell: a long re-run
    proc = start(project, "matrix", "-j", "1", envs=envs)  # the 3.6 cell first, then the 3.7 one
    wait_for_lines(project / "pids.txt", 1, 180)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    for name, text in complete.items():
        assert (reports / name).read_text() == text, "%s was replaced by the interrupted run" % name
    incomplete = report(project, "matrix-faults-incomplete")
    assert incomplete["interrupted"] is True
    assert report(project, "compat-faults-incomplete")["report"]["interrupted"] is True  # its view for tools too
    assert report(project, "badge-faults-incomplete")["color"] == "lightgrey"
    assert "matrix-faults-incomplete" in stdout and "untouched" in stdout
    assert (reports / "logs" / (FAULT_CELL + ".interrupted.log")).is_file()
    assert not list((reports / ".previous").rglob("*.*"))  # nothing left set aside
    make_project(project)  # healthy again: a finished run replaces the report and drops the incomplete one
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    assert not (reports / "matrix-faults-incomplete.json").exists()
    assert not (reports / "compat-faults-incomplete.json").exists()
    assert not (reports / "badge-faults-incomplete.json").exists()
    assert not (reports / "logs" / (FAULT_CELL + ".interrupted.log")).exists()


def test_artifacts_are_a_cells_evidence_never_stale_and_a_users_directory_is_never_deleted(tmp_path, envs):
    """What a cell's tests wrote (tfpin_artifact) is replaced by its next run like its JUnit and log: a run that
    writes none leaves none, so the cross step never reads what an older run of other code wrote."""
    project = make_project(tmp_path / "p")
    write(project, {"tests/test_writer.py": """
        def test_writes(tfpin_artifact):
            open(tfpin_artifact("state") + "/s.txt", "w").write("written")
        """})
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    written = project / "reports" / "artifacts" / GOOD_CELL / "state" / "s.txt"
    assert written.read_text() == "written" and cell_result(project, GOOD_CELL)["artifacts"] == ["state"]
    assert tfpin(project, "matrix", "--", "-k", "arithmetic", envs=envs).returncode == 0
    assert not written.exists() and "artifacts" not in cell_result(project, GOOD_CELL)
    mine = project / "artifacts" / "keep.txt"  # the user's own directory, in the project root
    mine.parent.mkdir()
    mine.write_text("mine")
    out = tfpin(project, "matrix", "--reports", str(project), envs=envs)
    assert out.returncode == 0, out.stderr
    assert mine.read_text() == "mine" and (project / "artifacts" / GOOD_CELL / "state" / "s.txt").is_file()


def test_a_directory_named_reports_in_the_code_is_a_source(tmp_path, envs):
    project = make_project(tmp_path / "p")
    write(project, {"app/__init__.py": "", "app/reports/__init__.py": "", "app/reports/value.py": "VALUE = 45\n",
                    "tests/test_value.py": "from app.reports.value import VALUE\n\n\ndef test_value():\n"
                                           "    assert VALUE == sum(range(10))\n"})
    assert tfpin(project, "matrix", "--cells", FAULT_CELL, envs=envs).returncode == 0
    assert "(cached" in tfpin(project, "matrix", "--cells", FAULT_CELL, envs=envs).stdout
    (project / "app" / "reports" / "value.py").write_text("VALUE = 44\n")
    out = tfpin(project, "matrix", "--cells", FAULT_CELL, envs=envs)
    assert out.returncode == 1 and "changed since its last run: sources" in out.stdout
    assert cell_result(project)["status"] == "failed"


def test_host_installer_constraints_are_dropped_and_index_settings_rebuild_the_env(tmp_path, envs):
    project = make_project(tmp_path / "p")
    constraints = tmp_path / "host-constraints.txt"
    constraints.write_text("six<1.16\n")  # would make six==1.16.0 unresolvable, or silently another six
    out = tfpin(project, "cell", FAULT_CELL, envs=envs, env=harness_env(UV_CONSTRAINT=str(constraints),
                                                                        PIP_CONSTRAINT=str(constraints)))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ignoring host PIP_CONSTRAINT" in out.stderr and "ignoring host UV_CONSTRAINT" in out.stderr
    assert cell_result(project)["resolved"].get("pytest")
    assert "six==1.16.0" in (project / "reports" / "locks" / (FAULT_CELL + ".txt")).read_text()
    # Another resolution setting is another install: the env is rebuilt and the verdict is not re-used.
    out = tfpin(project, "cell", FAULT_CELL, envs=envs, env=harness_env(UV_EXCLUDE_NEWER="2026-10-01T00:00:00Z"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "started (its environment is gone, damaged or built for another definition)" in out.stdout
    result = cell_result(project)
    assert result["env"]["reused"] is False and "stamp changed" in result["env"]["rebuilt_because"]


TOML_VERSION = ("import toml\n\n\ndef test_toml_is_the_pinned_release():\n"
                "    assert toml.__version__ == '0.10.2', 'toml is ' + toml.__version__\n")


def test_a_pin_in_a_nested_requirements_file_rebuilds_the_env_and_reruns(tmp_path, envs):
    """install = ["-r requirements.txt"], which says `-r base/base.txt`: the pin the suite relies on is two files
    deep (and base.txt's path is relative to the file that names it)."""
    project = make_project(tmp_path / "p", config_extra='install = ["-r requirements.txt"]')
    write(project, {"requirements.txt": "-r base/base.txt\n", "base/base.txt": "toml==0.10.2\n",
                    "tests/test_toml.py": TOML_VERSION})
    assert tfpin(project, "cell", FAULT_CELL, envs=envs).returncode == 0
    assert "(cached" in tfpin(project, "cell", FAULT_CELL, envs=envs).stdout
    (project / "base" / "base.txt").write_text("toml==0.10.1\n")
    out = tfpin(project, "cell", FAULT_CELL, envs=envs)
    assert out.returncode == 1, out.stdout + out.stderr
    result = cell_result(project)
    assert result["status"] == "failed" and result["env"]["reused"] is False
    assert "toml is 0.10.1" in result["reason"]


def test_installer_config_files_do_not_change_what_a_cell_installs(tmp_path, envs):
    """A uv.toml (or pip.conf) constraint would change a cell's set while nothing tfpin keys could see it: no
    installer config applies to a cell, tfpin says it ignored it, and the cell installs exactly its definition."""
    project = make_project(tmp_path / "p", config_extra='install = ["toml==0.10.2"]')
    write(project, {"tests/test_toml.py": TOML_VERSION})
    assert tfpin(project, "cell", FAULT_CELL, envs=envs).returncode == 0
    write(project, {"uv.toml": '[pip]\nconstraint-dependencies = ["toml<0.10.2"]\n'})
    pip_conf = tmp_path / "pip.conf"
    pip_conf.write_text("[global]\nconstraint = %s\n" % (tmp_path / "pip-constraints.txt"))
    (tmp_path / "pip-constraints.txt").write_text("toml<0.10.2\n")
    out = tfpin(project, "cell", FAULT_CELL, "--no-cache", envs=envs, env=harness_env(PIP_CONFIG_FILE=str(pip_conf)))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ignoring host %s" % (project / "uv.toml") in out.stderr and "ignoring host PIP_CONFIG_FILE" in out.stderr
    assert "ignoring host %s" % pip_conf not in out.stderr  # cells are built by uv here: pip's files are not its
    assert "toml==0.10.2" in (project / "reports" / "locks" / (FAULT_CELL + ".txt")).read_text()
    assert cell_result(project)["env"]["reused"] is True  # the same definition: the same env, not rebuilt


# -- what the user asked pytest for --------------------------------------------------------------------------

@pytest.mark.parametrize("args,said", [
    (["-k", "not ("], "Wrong expression passed to '-k'"),
    (["tests/no_such_test.py"], "file or directory not found: tests/no_such_test.py"),
], ids=["bad -k expression", "test path that does not exist"])
def test_pytest_usage_error_says_the_arguments_are_wrong(tmp_path, envs, args, said):
    project = make_project(tmp_path / "p")
    out = tfpin(project, "cell", FAULT_CELL, "--", *args, envs=envs)
    assert out.returncode == 1
    result = cell_result(project)
    assert result["status"] == "error"
    assert result["reason"].startswith(FAULT_CELL + ": pytest refused its arguments (exit 4, usage error): ")
    assert said in result["reason"] and "check `test`" in result["reason"]


def test_an_old_unavailable_verdict_is_checked_again(tmp_path):
    from test_faults import TF112

    project = make_project(tmp_path / "p", matrix=TF112)
    envs = tmp_path / "envs"
    assert tfpin(project, "matrix", "--cells", "py3.7-tf1.12", envs=envs).returncode == 3
    assert "(cached" in tfpin(project, "matrix", "--cells", "py3.7-tf1.12", envs=envs).stdout
    path = project / "reports" / "cells" / "py3.7-tf1.12.json"
    stored = json.loads(path.read_text())
    stored["finished"] = "2026-01-01T00:00:00+00:00"  # an index can gain a wheel in eleven months
    path.write_text(json.dumps(stored))
    out = tfpin(project, "matrix", "--cells", "py3.7-tf1.12", envs=envs)
    assert out.returncode == 3
    assert "its `unavailable` verdict of 2026-01-01T00:00:00+00:00 is over a day old" in out.stdout
    assert json.loads(path.read_text())["finished"] != stored["finished"]


def test_report_refuses_results_of_other_sources_or_another_tfpin(tmp_path, envs):
    project = make_project(tmp_path / "p")
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    assert tfpin(project, "report", envs=envs).returncode == 0
    path = project / "reports" / "cells" / (GOOD_CELL + ".json")
    stored = json.loads(path.read_text())
    path.write_text(json.dumps(dict(stored, harness=dict(stored["harness"], tfpin="0.0.1"))))
    test_file = project / "tests" / "test_fixture.py"
    test_file.write_text(test_file.read_text() + "\n# edited after the cells ran\n")
    out = tfpin(project, "report", envs=envs)
    assert out.returncode == 1
    assert "%s.json: made by tfpin 0.0.1" % GOOD_CELL in out.stderr
    assert "%s.json: made from other sources" % FAULT_CELL in out.stderr



# -- what a project runs beyond its tests ----------------------------------------------------------------------

def bench_line(printed: str) -> str:
    """The config line of a bench that prints `printed` (a Python expression, with json and six imported) as
    its JSON, after a line of chatter."""
    code = "import json, math, six; print('warming up'); print(json.dumps(%s))" % printed
    return "bench = [\"-c\", %s]" % json.dumps(code)


def test_a_projects_own_bench_command_runs_in_each_cell_and_joins_the_report(tmp_path, envs):
    """`bench` in the project's config: tfpin bench runs it in the cell's env, keeps its JSON, merges the figures
    under the names the project gave them; the report's version columns are its matrix's packages (six, no
    tensorflow)."""
    project = make_project(tmp_path / "p")
    out = tfpin(project, "bench", "--cells", FAULT_CELL, envs=envs)
    assert out.returncode == 2 and "declares no bench command: add `bench` to" in out.stderr
    make_project(project, config_extra=bench_line(
        "{'figures': {'six calls/s': 12.5, 'import ms': 3.25}, 'six': six.__version__}"))
    assert tfpin(project, "matrix", envs=envs).returncode == 0
    (project / "reports" / "matrix-faults.json").unlink()  # the report is rebuilt from the results, not edited
    out = tfpin(project, "bench", "--cells", FAULT_CELL, envs=envs)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "rebuilt from the cells' stored results" in out.stdout and "12.5 six calls/s, 3.25 import ms" in out.stdout
    data = json.loads((project / "reports" / "bench" / (FAULT_CELL + ".json")).read_text())
    assert data["status"] == "measured" and data["six"] == "1.16.0"  # ran with the cell's own six
    merged = {c["id"]: c for c in report(project)["cells"]}
    assert merged[FAULT_CELL]["bench"]["figures"] == {"six calls/s": 12.5, "import ms": 3.25}
    assert "bench" not in merged[GOOD_CELL] and "six" not in merged[FAULT_CELL]["bench"]
    table = (project / "reports" / "matrix-faults.md").read_text().split("\n\n")[2].splitlines()
    assert table[0] == "| cell | status | passed | failed | errors | skipped | setup s | tests s | six | pytest | " \
                       "six calls/s |"
    assert all(row.count(" | ") == table[0].count(" | ") for row in table[2:])  # one row per cell, aligned
    assert [row for row in table if FAULT_CELL in row][0].endswith("| %s |" % md_text("12.5 (3.25 import ms)"))
    cards = (project / "reports" / "matrix-faults.html").read_text().split("<h2>Cells</h2>")[1].split("<h2>")[0]
    assert "six 1.16.0, pytest " in cards and "12.5 six calls/s, 3.25 import ms" in cards
    assert "tensorflow" not in cards.lower()


@pytest.mark.parametrize("printed,said", [
    ("{'figures': {'six calls/s': 'fast'}}", "key 'figures.six calls/s' = \"fast\" is not a finite number: "
                                            "'figures' must be an object of name -> finite number"),
    ("{'figures': {'six calls/s': math.nan}}", "key 'figures.six calls/s' = NaN is not a finite number"),
    ("{'figures': [12.5]}", "key 'figures' = [12.5] must be an object of name -> finite number"),
    ("{'six calls/s': 12.5}", "has no key 'figures'"),
    ("{'figures': {'six calls/s': 12.5}, 'finite': False}", "the bench says its run diverged (`finite`: false)"),
], ids=["string", "nan", "list", "no-figures", "diverged"])
def test_a_bench_that_breaks_the_contract_is_an_error_naming_the_cell(tmp_path, envs, printed, said):
    """What a bench prints is checked against the contract (tfpin/cell/bench.py): a bad `figures` or a diverged run
    gives an error record naming the cell and what is allowed, no figures, and exit 1; never a traceback."""
    project = make_project(tmp_path / "p", config_extra=bench_line(printed))
    out = tfpin(project, "bench", "--cells", FAULT_CELL, envs=envs)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    data = json.loads((project / "reports" / "bench" / (FAULT_CELL + ".json")).read_text())
    assert data["status"] == "error" and data["reason"].startswith(FAULT_CELL + ": ") and said in data["reason"]
    assert said in out.stdout
    if "diverged" in said:
        assert "figures" not in data


def test_a_built_in_table_cell_installs_tfpin_and_the_project_nothing_of_this_repository(tmp_path):
    """The table's tools are tfpin's own (pytest, pytest-timeout): a user's cell is the env they would deploy plus
    them, read back from the real env (its freeze), not from the config."""
    project = write(tmp_path / "p", {"tfpin.toml": 'matrix = "table"\ntest = ["tests"]\n',
                                     "tests/test_tf.py": "def test_tensorflow_imports():\n    import tensorflow\n"})
    cell = "py3.7-tf1.15-keras2.2.5"
    out = tfpin(project, "matrix", "--cells", cell, envs=tmp_path / "envs", timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    installed = {line.split("==")[0].lower() for line in (project / "reports" / "locks" / (cell + ".txt"))
                 .read_text().splitlines() if "==" in line}
    assert {"tensorflow", "keras", "pytest", "pytest-timeout"} <= installed
    assert not installed & {"scikit-learn", "joblib", "threadpoolctl"}, installed  # scipy: keras 2.2 depends on it


def test_env_pythonpath_for_a_src_layout_keeps_tfpins_plugins_working(tmp_path, envs):
    """`[env] PYTHONPATH = "src"` used to replace the path tfpin's in-cell plugins are found on: the cell errored
    with a reason that named none of it. Now it goes in front: the code imports from src/ and the suite's artifact
    (the tfpin_artifact plugin) is written."""
    project = tmp_path / "p"
    write(project, {
        "faults.toml": MATRIX,
        "src/mylib/__init__.py": "def answer():\n    return 42\n",
        "tests/test_lib.py": """
            import os

            from mylib import answer


            def test_answer(tfpin_artifact):
                with open(os.path.join(tfpin_artifact("kept"), "answer.txt"), "w") as f:
                    f.write(str(answer()))
                assert answer() == 42
            """,
        "tfpin.toml": 'matrix = "faults.toml"\ntest = ["tests"]\n[env]\nPYTHONPATH = "src"\n',
    })
    out = tfpin(project, "matrix", "--cells", FAULT_CELL, envs=envs)
    assert out.returncode == 0, out.stdout + out.stderr
    assert statuses(project, "matrix-faults-partial") == {FAULT_CELL: "passed"}
    assert (project / "reports" / "artifacts" / FAULT_CELL / "kept" / "answer.txt").read_text() == "42"


def test_a_nan_demand_in_a_stored_result_counts_as_unknown(tmp_path, envs):
    """A stored result whose demands are NaN (a float, so it passes the type check) once made the next run wait for
    ever for cores that never "fit", with no child running. It counts as unknown: one core per cell."""
    # Four cells, so that later ones wait for cores the first ones give back (six 1.15.0 fails the suite's pin check).
    project = make_project(tmp_path / "p", matrix=MATRIX.replace('six = "1.16.0"', 'six = ["1.15.0", "1.16.0"]'))
    expected = {GOOD_CELL: "passed", FAULT_CELL: "passed", "py3.6-six1.15.0": "failed", "py3.7-six1.15.0": "failed"}
    assert tfpin(project, "matrix", envs=envs).returncode == 1
    assert statuses(project) == expected
    for path in (project / "reports" / "cells").glob("*.json"):
        data = json.loads(path.read_text())
        data["durations"].update(setup_demand=1.0, tests_demand=float("nan"))  # two set-ups fit, the next must wait
        path.write_text(json.dumps(data))  # NaN, as Python's json writes it
    out = tfpin(project, "matrix", "--no-cache", envs=envs, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert statuses(project) == expected
