"""Create, reuse and freeze one virtual environment per cell.

uv is used when it is available (fast, a warm cache makes re-creation cheap); otherwise
the cell interpreter's own `venv` plus an upgraded pip (modern virtualenv cannot make
3.6 environments, and 3.6's stock pip 18.1 cannot see manylinux2010 wheels).

An environment is reused exactly when its stamp (interpreter, requirements, pins,
installer) is unchanged, so an immediate re-run installs nothing.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from .cells import Cell
from .interpreters import find

STAMP = "tfpin-stamp.json"
FREEZE = "tfpin-freeze.txt"

# The installer's own words for "this requirement has no distribution for this Python".
NO_DISTRIBUTION = [
    re.compile(r"has no wheels with a matching Python ABI tag"),
    re.compile(r"has no wheels with a matching Python version tag"),
    re.compile(r"Could not find a version that satisfies the requirement"),
    re.compile(r"No matching distribution found for"),
    re.compile(r"only found wheels for .* with the following Python ABI tags"),
]


class Unavailable(Exception):
    """The cell cannot exist here (no interpreter, no wheel); not a failure of the code."""


class InstallError(Exception):
    """The environment could not be built for another reason; message has the installer's last lines."""


def uv_binary() -> str | None:
    if os.environ.get("TFPIN_INSTALLER") == "venv":
        return None
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def installer() -> str:
    return "uv" if uv_binary() else "venv"


class CellEnv:
    def __init__(self, cell: Cell, root: Path):
        self.cell = cell
        self.path = root / cell.id
        self.python = self.path / "bin" / "python"

    def _stamp(self, interpreter: str, version: str, backend: str) -> dict:
        return {
            "interpreter": interpreter,
            "interpreter_version": version,
            "installer": backend,
            "requirements": self.cell.requirement_lines(),
            "constraints": self.cell.constraint_lines(),
            "pip": self.cell.pip if backend == "venv" else "",
        }

    def ensure(self, log) -> dict:
        """Make the environment current. Returns {'reused': bool, 'installer': str, 'seconds': float}."""
        start = time.monotonic()
        try:
            interpreter, version = find(self.cell.python)
        except LookupError as exc:
            raise Unavailable(str(exc)) from None
        backend = installer()
        stamp = self._stamp(interpreter, version, backend)
        stamp_file = self.path / STAMP
        if self.python.exists() and stamp_file.exists():
            if json.loads(stamp_file.read_text()) == stamp and (self.path / FREEZE).exists():
                return {"reused": True, "installer": backend, "seconds": time.monotonic() - start}
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._create(interpreter, backend, log)
            self._install(backend, log)
            (self.path / FREEZE).write_text(self._freeze(backend))
        except (Unavailable, InstallError):
            shutil.rmtree(self.path, ignore_errors=True)  # never leave a half-built env to be reused
            raise
        stamp_file.write_text(json.dumps(stamp, indent=2))
        return {"reused": False, "installer": backend, "seconds": time.monotonic() - start}

    def _run(self, cmd, log, what):
        log("$ " + " ".join(str(c) for c in cmd))
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
        output = (proc.stdout or "") + (proc.stderr or "")
        log(output)
        if proc.returncode != 0:
            lines = [ln for ln in output.strip().splitlines() if ln.strip()]
            if what == "install" and self._no_distribution(output):
                quoted = [_short(ln.strip()) for ln in lines if any(p.search(ln) for p in NO_DISTRIBUTION)]
                raise Unavailable("installer: " + " | ".join(quoted or lines[-3:]))
            raise InstallError("%s failed (exit %d): %s" % (what, proc.returncode, " | ".join(lines[-8:])))
        return output

    def _no_distribution(self, output: str) -> bool:
        """True when the installer says one of *our pinned* packages has no build for this Python."""
        names = [name for name, _ in self.cell.requirements]
        for line in output.splitlines():
            if any(p.search(line) for p in NO_DISTRIBUTION) and any(n in line for n in names):
                return True
        return False

    def _create(self, interpreter, backend, log):
        if backend == "uv":
            self._run([uv_binary(), "venv", "-q", "--python", interpreter, self.path], log, "create")
        else:
            self._run([interpreter, "-m", "venv", self.path], log, "create")
            self._run([self.python, "-m", "pip", "install", "-q", "--disable-pip-version-check", self.cell.pip],
                      log, "pip upgrade")

    def _install(self, backend, log):
        req = self.path / "tfpin-requirements.txt"
        con = self.path / "tfpin-constraints.txt"
        req.write_text("\n".join(self.cell.requirement_lines()) + "\n")
        con.write_text("\n".join(self.cell.constraint_lines()) + "\n")
        if backend == "uv":
            cmd = [uv_binary(), "pip", "install", "--python", self.python, "-r", req, "-c", con]
        else:
            cmd = [self.python, "-m", "pip", "install", "--disable-pip-version-check", "--no-compile",
                   "-r", req, "-c", con]
        self._run(cmd, log, "install")

    def _freeze(self, backend) -> str:
        if backend == "uv":
            cmd = [uv_binary(), "pip", "freeze", "--python", self.python]
        else:
            cmd = [self.python, "-m", "pip", "freeze", "--disable-pip-version-check"]
        out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=True).stdout
        return out if out.endswith("\n") else out + "\n"

    def freeze(self) -> str:
        return (self.path / FREEZE).read_text()


def _short(line: str) -> str:
    """pip lists every release it saw; keep the first few so the report stays readable."""
    def cut(match):
        versions = match.group(1).split(", ")
        if len(versions) <= 6:
            return match.group(0)
        return "(from versions: %s, ... %s)" % (", ".join(versions[:4]), versions[-1])

    return re.sub(r"\(from versions: ([^)]*)\)", cut, line)


def parse_freeze(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if "==" in line and not line.startswith("#"):
            name, _, version = line.partition("==")
            out[name.strip().lower().replace("_", "-")] = version.strip()
    return out
