"""Real harness runs against tiny TF-free projects, for injecting faults.

A cell here is a real Python (3.6/3.7 from this machine) plus `six` and the test tools, built by
the real installer; the project's suite is real pytest. The fault is chosen through the
project's `env` (FAULT, and FAULT_CELL: the cell-id prefix it hits), so a matrix can have a
healthy cell first and a faulty one after it.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The test tools of a TF-free cell, per Python (the newest releases that still support it).
PYTHONS = """
[pythons."3.6"]
pip = "pip==21.3.1"
tools = ["pytest==7.0.1", "pytest-timeout==2.1.0"]

[pythons."3.7"]
pip = "pip==24.0"
tools = ["pytest==7.4.4", "pytest-timeout==2.4.0"]
"""

MATRIX = """
description = "fault suite: six on two Pythons"

[[cells]]
python = ["3.6", "3.7"]
six = "1.16.0"

[packages.six]
label = "six"
id_parts = 3

[packages.tensorflow]
label = "tf"
id_parts = 2
""" + PYTHONS
GOOD_CELL, FAULT_CELL = "py3.6-six1.16.0", "py3.7-six1.16.0"

SUITE = '''
import os
import signal
import subprocess
import sys
import time

FAULT = os.environ.get("FAULT", "")
ACTIVE = bool(FAULT) and os.environ.get("TFPIN_CELL", "").startswith(os.environ.get("FAULT_CELL", "py"))


def test_six_is_the_pinned_release():
    import six
    assert six.__version__ == "1.16.0"


def test_arithmetic():
    assert sum(range(10)) == 45


def test_fault():
    """Healthy cells check the cell token; the faulty cell misbehaves as told."""
    assert os.environ["TFPIN_CELL"].split()[0].endswith("six1.16.0")
    if not ACTIVE:
        return
    if FAULT == "fail":
        assert 1 == 2, "injected failure"
    if FAULT == "timeout-text":  # a genuine failure whose words look like pytest-timeout's
        assert False, "Timeout >5s waiting for the queue"
    if FAULT == "hang":
        time.sleep(600)
    if FAULT == "hang-unstoppable":  # pytest-timeout's SIGALRM never arrives: only the deadline ends it
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
        time.sleep(600)
    if FAULT == "segfault":
        import ctypes
        ctypes.string_at(0)
    if FAULT in ("sleep", "slow"):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open(os.environ["FAULT_PIDFILE"], "a") as f:  # one line per cell: -j runs several at once
            f.write("%d %d\\n" % (os.getpid(), child.pid))
        time.sleep(600 if FAULT == "sleep" else 3)
        child.kill()
'''

CONFTEST = '''
import os

import pytest

FAULT = os.environ.get("FAULT", "")
ACTIVE = bool(FAULT) and os.environ.get("TFPIN_CELL", "").startswith(os.environ.get("FAULT_CELL", "py"))


def pytest_collection_modifyitems(config, items):
    if ACTIVE and FAULT == "nothing":
        items[:] = []


def pytest_runtest_teardown(item, nextitem):
    if ACTIVE and FAULT == "exit0":  # a plugin that ends the session after the first test, "successfully"
        pytest.exit("the suite decided it had run enough", returncode=0)


def pytest_unconfigure(config):
    xml = getattr(config.option, "xmlpath", None)
    if ACTIVE and FAULT == "corrupt-junit" and xml and os.path.exists(xml):
        text = open(xml).read()
        with open(xml, "w") as f:
            f.write(text[: len(text) // 2])  # a half-written report, as after a full disk
'''


def make_project(root: Path, fault: str = "", fault_cell: str = "py3.7", matrix: str = MATRIX,
                 timeout: int = 60, extra_env=None, config_extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "tests").mkdir(exist_ok=True)
    (root / "tests" / "test_fixture.py").write_text(textwrap.dedent(SUITE))
    (root / "tests" / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (root / "faults.toml").write_text(textwrap.dedent(matrix))
    env = {"FAULT": fault, "FAULT_CELL": fault_cell, "FAULT_PIDFILE": str(root / "pids.txt"), **(extra_env or {})}
    env_lines = "\n".join('%s = "%s"' % kv for kv in env.items())
    (root / "tfpin.toml").write_text('matrix = "faults.toml"\ntest = ["tests"]\ntimeout = %d\n%s\n[env]\n%s\n'
                                     % (timeout, config_extra, env_lines))
    return root


def harness_env(**overrides) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def tfpin(project: Path, *args, env=None, envs: Path = None, timeout: float = 300):
    """One real run of the harness, as a user would start it from the project directory."""
    cmd = [sys.executable, "-m", "tfpin", args[0], *(["--envs", str(envs)] if envs else []), *args[1:]]
    return subprocess.run(cmd, cwd=project, env=env or harness_env(), capture_output=True, text=True,
                          timeout=timeout)


STARTED: list = []  # every process a test started: conftest's autouse fixture kills what is left, pass or fail


def start(project: Path, *args, envs: Path, env=None) -> subprocess.Popen:
    """A harness run in its own session, like a terminal's foreground job (Ctrl-C goes to it alone)."""
    cmd = [sys.executable, "-m", "tfpin", args[0], "--envs", str(envs), *args[1:]]
    return started(subprocess.Popen(cmd, cwd=project, env=env or harness_env(), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, start_new_session=True))


def started(proc: subprocess.Popen) -> subprocess.Popen:
    STARTED.append(proc)
    return proc


def kill_started() -> None:
    """The `finally` of every test that started a harness run: nothing it started outlives it."""
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.communicate()


def report(project: Path, name: str = "matrix-faults") -> dict:
    return json.loads((project / "reports" / (name + ".json")).read_text())


def statuses(project: Path, name: str = "matrix-faults") -> dict:
    return {c["id"]: c["status"] for c in report(project, name)["cells"]}


def running(pid, grace=5.0):
    """False once the process is gone or a zombie (killed, waiting for init to reap it)."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            state = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        if state == "Z":
            return False
        time.sleep(0.1)
    return True


def wheel(directory: Path, name: str, version: str, modules: dict, requires_python: str = "") -> Path:
    """A real pure-Python wheel of `name` at `version` in `directory` (a find-links directory), with `modules`
    (path in the wheel -> source) and an optional Requires-Python: what an index serves, built in milliseconds."""
    directory.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    path = directory / ("%s-%s-py3-none-any.whl" % (dist, version))
    info = "%s-%s.dist-info" % (dist, version)
    meta = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version)
    files = dict(modules, **{
        "%s/METADATA" % info: meta + ("Requires-Python: %s\n" % requires_python if requires_python else ""),
        "%s/WHEEL" % info: "Wheel-Version: 1.0\nGenerator: tfpin-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    })
    with zipfile.ZipFile(path, "w") as whl:
        for arcname, text in files.items():
            whl.writestr(arcname, text)
        whl.writestr("%s/RECORD" % info, "".join("%s,,\n" % a for a in files) + "%s/RECORD,,\n" % info)
    return path


def pyproject(name: str, *, src: bool = False, packages=(), project_extra: str = "", extra: str = "") -> str:
    """A setuptools pyproject.toml for a fixture package: a src layout (found under src/) or the given packages;
    `project_extra`: more keys of [project] (dependencies, ...); `extra`: more tables after it."""
    where = '[tool.setuptools.packages.find]\nwhere = ["src"]\n' if src else (
        "[tool.setuptools]\npackages = [%s]\n" % ", ".join('"%s"' % p for p in packages) if packages else "")
    return ('[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
            '[project]\nname = "%s"\nversion = "0.1.0"\n%s\n%s%s' % (name, project_extra, where, extra))
