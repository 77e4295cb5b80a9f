"""Progress while cells run, read where a person reads it: a real pseudo-terminal (the live region, redrawn in
place), a plain pipe (heartbeat lines, as a CI log gets them), --verbose (each cell's pytest output streamed)
and GitHub Actions (each cell's log folded into a group). The cell is faultkit's, with a test that takes 3 s."""
import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest
from faultkit import FAULT_CELL, harness_env, make_project, started, tfpin

NOW = "now: tests/test_fixture.py::test_fault"


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    return tmp_path_factory.mktemp("envs")


def on_a_terminal(project, *args, envs, env=None, timeout=300):
    """Run tfpin with a pty as its terminal; everything the terminal received, escape sequences included."""
    master, slave = pty.openpty()
    cmd = [sys.executable, "-m", "tfpin", args[0], "--envs", str(envs), *args[1:]]
    proc = started(subprocess.Popen(cmd, cwd=project, env=dict(env or harness_env(), TERM="xterm-256color",
                                                                  COLUMNS="160"),
                                    stdin=slave, stdout=slave, stderr=slave, close_fds=True))
    os.close(slave)
    screen, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(master)
    return proc.returncode, screen.decode("utf-8", "replace")


def test_a_terminal_gets_a_live_region_with_tests_done_the_running_test_and_an_eta(tmp_path, envs):
    project = make_project(tmp_path / "p", fault="slow", fault_cell="py3.7")
    code, first = on_a_terminal(project, "matrix", "--cells", FAULT_CELL, envs=envs)
    assert code == 0, first
    assert "2/3 tests" in first and NOW in first and "(from its pace)" in first  # no earlier run: its pace
    assert re.search(r"\x1b\[\d*[AK]", first), "the region is redrawn in place (cursor up / erase line)"
    code, again = on_a_terminal(project, "matrix", "--cells", FAULT_CELL, "--no-cache", envs=envs)
    assert code == 0 and re.search(r"ETA ~\d+s \(last run \d+s\)", again), again  # from the first run's time


def test_a_plain_log_gets_heartbeat_lines_and_quiet_gets_none(tmp_path, envs):
    project = make_project(tmp_path / "p", fault="slow", fault_cell="py3.7")
    env = harness_env(TFPIN_HEARTBEAT_S="1")
    out = tfpin(project, "cell", FAULT_CELL, env=env, envs=envs)
    assert out.returncode == 0, out.stdout + out.stderr
    beats = [line for line in out.stdout.splitlines() if NOW in line]
    assert beats and all(line.startswith("[1/1] %s" % FAULT_CELL) and "2/3 tests" in line for line in beats)
    assert "\x1b[" not in out.stdout  # no escape codes in a log
    quiet = tfpin(project, "cell", FAULT_CELL, "--no-cache", "--quiet", env=env, envs=envs)
    assert quiet.returncode == 0 and NOW not in quiet.stdout and "passed" in quiet.stdout


def test_a_matrix_ends_with_a_terminal_summary_and_quiet_keeps_only_verdicts_and_answers(tmp_path, envs):
    """The run's last words are a table of the cells and the pin lines to paste, not matrix.md echoed; -q drops
    every progress line of every step (the run's header, started, the scheduler's and the steps' lines) and keeps
    each cell's verdict, the summary, the totals."""
    project = make_project(tmp_path / "p")
    out = tfpin(project, "matrix", "--no-cache", envs=envs)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "tfpin: project " in text and "started" in text and "tfpin: cross-cell checks in" in text
    assert "## " not in text and "| `" not in text and "\\" not in text  # no Markdown: headings, tables, escapes
    table = [line for line in text.splitlines() if re.match(r"^\s*py3\.[67]-six1\.16\.0\s+passed\s+\d+\s+0\s+0",
                                                             line)]
    assert len(table) == 2, text  # one row per cell: status, passed, failed, skipped
    assert "Recommended pin" in text and "    six==1.16.0" in text and "reports: reports/matrix-faults.json" in text
    quiet = tfpin(project, "matrix", "--no-cache", "-q", envs=envs)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    said = quiet.stdout.splitlines()
    progress = [line for line in said if line.startswith("tfpin: ") or line.endswith(" started")]
    assert progress == [], progress
    assert len([line for line in said if re.match(r"^\[\d/2\] py3\.[67]-six1\.16\.0 +passed", line)]) == 2
    assert "Recommended pin" in quiet.stdout and "tests: 6 passed, 0 failed, 0 errors, 0 skipped" in quiet.stdout


def test_verbose_streams_the_cells_pytest_output_and_github_folds_each_log(tmp_path, envs):
    project = make_project(tmp_path / "p", fault="slow", fault_cell="py3.7")
    out = tfpin(project, "cell", FAULT_CELL, "--verbose", envs=envs)
    assert out.returncode == 0
    streamed = [line for line in out.stdout.splitlines() if line.startswith("[%s] " % FAULT_CELL)]
    assert any("-m pytest tests" in line for line in streamed)  # the command, as the log has it
    assert any("3 passed" in line for line in streamed)  # pytest's own summary line
    github = tfpin(project, "cell", FAULT_CELL, "--no-cache", env=harness_env(GITHUB_ACTIONS="true"), envs=envs)
    text = github.stdout
    assert "::group::%s log" % FAULT_CELL in text and "::endgroup::" in text
    assert text.index("::group::") < text.index("3 passed") < text.index("::endgroup::")


def test_github_annotates_each_failing_test_on_its_file_and_line(tmp_path, envs):
    import textwrap

    from faultkit import SUITE

    project = make_project(tmp_path / "p", fault="fail", fault_cell="py3.7")
    out = tfpin(project, "cell", FAULT_CELL, env=harness_env(GITHUB_ACTIONS="true"), envs=envs)
    assert out.returncode == 1
    line = next(i for i, text in enumerate(textwrap.dedent(SUITE).splitlines(), 1) if "assert 1 == 2" in text)
    (error,) = [ln for ln in out.stdout.splitlines() if ln.startswith("::error ")]
    assert error == ("::error file=tests/test_fixture.py,line=%d,title=%s%%3A tests/test_fixture.py%%3A%%3Atest_fault"
                     "::AssertionError: injected failure" % (line, FAULT_CELL))
