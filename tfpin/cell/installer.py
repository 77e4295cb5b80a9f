"""The installers tfpin drives, in one place: uv (fast; its resolver is what pin discovery needs) or, without
it or with TFPIN_INSTALLER=venv, the cell interpreter's own `venv` plus an upgraded pip (modern virtualenv
cannot make 3.6 environments, and 3.6's stock pip 18.1 cannot see manylinux2010 wheels).

It says how each step is spelled for each (create, install, re-install the project, sync, compile,
freeze) and how to read what they print (no build for this Python, a freeze); running them is the
caller's (envs.CellEnv for cells, pins.Discovery for trials), through procs.run.
"""
from __future__ import annotations

import os
import re
import shutil
import threading

from packaging.utils import canonicalize_name

# uv's words for "the index has this requirement, but no build of it for this Python".
UV_NO_BUILD = [
    re.compile(r"has no wheels with a matching Python (ABI|version) tag"),
    re.compile(r"only found wheels for .* with the following Python (ABI|implementation|version) tags?"),
    re.compile(r"the current Python version \([\d.]+\) does not satisfy Python"),
    re.compile(r"has no wheels with a matching platform tag"),
]
PIP_NOT_FOUND = re.compile(r"Could not find a version that satisfies the requirement (\S+) \(from versions: ([^)]*)\)")

_uv_lock = threading.Lock()


def uv_binary() -> str | None:
    """uv for building cell envs: None when absent or when TFPIN_INSTALLER=venv asks for the fallback."""
    if os.environ.get("TFPIN_INSTALLER") == "venv":
        return None
    return find_uv()


def find_uv() -> str | None:
    """uv wherever it is, whatever TFPIN_INSTALLER says (pin discovery needs its resolver)."""
    # One thread at a time: uv.find_uv_bin reads sysconfig, whose first, lazy initialisation is not
    # thread-safe; two `pins discover -j 2` workers asking at once got EXE = None (TypeError) in a fresh venv.
    with _uv_lock:
        try:
            import uv

            return uv.find_uv_bin()
        except (ImportError, FileNotFoundError):
            return shutil.which("uv")


def backend() -> str:
    """"uv" or "venv": what builds cell envs on this machine now."""
    return "uv" if uv_binary() else "venv"


def create(backend: str, interpreter: str, path, pip: str = "") -> list[list]:
    """The commands that make an empty env at `path` for `interpreter` (venv: then upgrade pip to `pip`)."""
    if backend == "uv":
        return [[uv_binary() or find_uv(), "venv", "-q", "--python", interpreter, path]]
    python = os.path.join(str(path), "bin", "python")
    return [[interpreter, "-m", "venv", path],
            [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", pip]]


def install(backend: str, python, requirements, constraints) -> list:
    """Install a requirements file under a constraints file (bytecode is compiled by the caller, alike for both)."""
    if backend == "uv":
        return [uv_binary(), "pip", "install", "--python", python, "-r", requirements, "-c", constraints]
    return [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-compile", "-r", requirements,
            "-c", constraints]


def install_into(backend: str, python, target, requirement: str) -> list:
    """Install one requirement into a directory of its own (`--target`), resolved for `python`: a tool a run adds to
    a cell (coverage.py) without touching the env's installed set, its stamp or its lock."""
    if backend == "uv":
        return [uv_binary(), "pip", "install", "-q", "--python", python, "--target", target, requirement]
    return [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target", target, requirement]


def reinstall(backend: str, python, args) -> list:
    """Install `args` again without their dependencies, rebuilt from the tree (uv: --reinstall implies --refresh)."""
    if backend == "uv":
        return [uv_binary(), "pip", "install", "--python", python, "--no-deps", "--reinstall", *args]
    return [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-compile", "--no-deps",
            "--force-reinstall", *args]


def freeze(backend: str, python, has_pip: bool) -> list:
    if backend == "uv" and not has_pip:
        return [uv_binary(), "pip", "freeze", "--python", python]
    return [python, "-m", "pip", "freeze", "--disable-pip-version-check"]


def sync(python, spec) -> list:
    """Make an env hold exactly `spec` (uv only: pin discovery's trials)."""
    return [find_uv(), "pip", "sync", "-q", "--python", python, spec]


def compile(interpreter: str, requirements, constraints, extra=()) -> list:
    """Resolve without installing (uv only: pin discovery)."""
    return [find_uv(), "pip", "compile", "-q", "--no-header", "--no-annotate", "--python", interpreter,
            requirements, "-c", constraints, *extra]


def noise(line: str) -> bool:
    return "is ignored: it is neither a file nor a directory" in line


def uv_no_build(output: str, names) -> str:
    """uv's own line saying one of `names` has no build for this Python, else ''."""
    for line in output.splitlines():
        if any(p.search(line) for p in UV_NO_BUILD) and any(n in line for n in names):
            return short(line.strip())
    return ""


def short(line: str) -> str:
    """pip lists every release it saw; keep the first few so the report stays readable."""
    def cut(match):
        versions = match.group(1).split(", ")
        if len(versions) <= 6:
            return match.group(0)
        return "(from versions: %s, ... %s)" % (", ".join(versions[:4]), versions[-1])

    return re.sub(r"\(from versions: ([^)]*)\)", cut, line)


def parse_freeze(text: str) -> dict[str, str]:
    """{canonical name: version} of a `pip freeze` / `uv pip compile` text (comments, extras, markers and
    non-`==` lines such as `-e` or `name @ url` left aside)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if "==" in line and not line.startswith("-"):
            name, _, version = line.partition("==")
            out[canonicalize_name(name.split("[")[0])] = version.split(";")[0].strip()
    return out
