"""Create, reuse, check and freeze one virtual environment per cell (the commands: tfpin/cell/installer.py).

uv is used when it is available (fast, a warm cache makes re-creation cheap); otherwise
the cell interpreter's own `venv` plus an upgraded pip (modern virtualenv cannot make
3.6 environments, and 3.6's stock pip 18.1 cannot see manylinux2010 wheels).

An environment is reused when its stamp (interpreter, requirements, pins, the project's
install lines and the files they name, installer) is unchanged AND a probe finds it whole;
otherwise it is rebuilt. Its installed set is read from the env itself on every run, never
copied from an earlier one.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import TypedDict

from tfpin import environ, procs
from tfpin.cell import installer
from tfpin.cell.interpreters import find
from tfpin.config import local
from tfpin.config.cells import Cell

STAMP = "tfpin-stamp.json"
LOCAL = "tfpin-local.json"  # digests of the project trees the install lines put here (tfpin/config/local.py)
PLUGIN_DIR = Path(__file__).resolve().parent.parent / "cellplugin"  # tfpin/cellplugin/
BYTECODE_HOOK = PLUGIN_DIR / "tfpin_bytecode.py"
INSTALL_TIMEOUT = 1800



class EnvInfo(TypedDict):
    """How `ensure` made a cell's environment current: re-used (and which local trees it re-installed), or built,
    and why it was rebuilt."""
    reused: bool
    installer: str
    rebuilt_because: str
    reinstalled: list[str]


class MissingInterpreter(Exception):
    """This machine has no interpreter for the cell's Python."""


class Unavailable(Exception):
    """The installer says a pinned package has no build for this Python: the cell cannot exist."""


class InstallError(Exception):
    """The environment could not be built for another reason; message has the installer's last lines."""


class EnvLock:
    """One run at a time per env: a second run on the same env waits, and says so."""

    def __init__(self, env_path: Path, announce):
        self.path = env_path.parent / (".%s.lock" % env_path.name)
        self.announce = announce

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 64, 0).decode(errors="replace").strip() or "?"
            self.announce("waiting: another tfpin run (pid %s) is using %s" % (holder, self.path.parent))
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


class CellEnv:
    def __init__(self, cell: Cell, root: Path, project_root: Path, install_digest: dict | None = None,
                 local: dict | None = None):
        self.cell, self.project_root = cell, Path(project_root)
        self.path = Path(root) / cell.id
        self.python = self.path / "bin" / "python"
        self.install_digest = install_digest or {}
        self.local = local or {}  # {local install line: digest of its tree now}: re-installed when it moved
        self.resolved: dict[str, str] = {}  # what is installed now, filled from a fresh freeze before each use
        self.steps: dict[str, float] = {}  # seconds of each set-up step this run took (create, install, ...)

    def timed(self, step: str):
        """Adds the seconds of the `with` block to self.steps[step]: where a cell's set-up time goes."""
        return _Timed(self.steps, step)

    def stamp(self, interpreter: str, version: str, backend: str) -> dict:
        return {
            "interpreter": interpreter,
            "interpreter_version": version,
            "installer": backend,
            **self.cell.definition(),
            **self.install_digest,
            "pip": self.cell.pip if backend == "venv" else "",
            # indexes, find-links, resolution settings and config files: another index is another install
            "installer_settings": environ.installer_settings(backend, self.project_root),
            "bytecode": "on first import",  # envs of another bytecode policy are rebuilt, not reused slow
        }

    def wanted_stamp(self) -> dict:
        """The stamp this cell's env must carry to be reused (LookupError without an interpreter)."""
        interpreter, version = find(self.cell.python)
        return self.stamp(interpreter, version, installer.backend())

    def ensure(self, log) -> EnvInfo:
        """Make the environment current, and say how."""
        try:
            interpreter, version = find(self.cell.python)
        except LookupError as exc:
            raise MissingInterpreter(str(exc)) from None
        backend = installer.backend()
        stamp = self.stamp(interpreter, version, backend)
        stamp_file = self.path / STAMP
        why = "new environment"
        if self.python.exists() and stamp_file.exists():
            try:
                same = json.loads(stamp_file.read_text()) == stamp
            except ValueError:
                same = False
            if same:
                with self.timed("probe"):
                    problems = self.probe(log)
                if not problems:
                    return EnvInfo(reused=True, installer=backend, rebuilt_because="",
                                   reinstalled=self.refresh_local(backend, log))
                why = "damaged: " + "; ".join(problems[:3])
            else:
                why = "stamp changed (requirements, pins, install lines or interpreter)"
        elif self.path.exists():
            why = "incomplete environment"
        log("== %s: building environment (%s)" % (self.cell.id, why))
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.timed("create"):
                self._create(interpreter, backend, log)
            with self.timed("install"):
                self._install(backend, log)
            bytecode_on_import(self.path, log)
        except BaseException:  # an installer failure or an interrupt: never leave a half-built env to be reused
            shutil.rmtree(self.path, ignore_errors=True)
            raise
        stamp_file.write_text(json.dumps(stamp, indent=2))
        (self.path / LOCAL).write_text(json.dumps(self.local, indent=2))
        return EnvInfo(reused=False, installer=backend, rebuilt_because=why if why != "new environment" else "",
                       reinstalled=[])

    def refresh_local(self, backend, log) -> list[str]:
        """Re-install the project trees whose files changed since this env got them; their lines, or []."""
        try:
            installed = json.loads((self.path / LOCAL).read_text())
        except (OSError, ValueError):
            installed = {}
        changed = [line for line, digest in self.local.items() if installed.get(line) != digest]
        if not changed:
            return []
        log("== %s: the project's code changed since it was installed into this env: re-installing %s"
            % (self.cell.id, ", ".join(changed)))
        args = [a for line in changed for a in (["-e", line[3:]] if line.startswith("-e ") else [line])]
        with self.timed("reinstall"):
            self._run(installer.reinstall(backend, self.python, args), log, "re-install of the project")
        (self.path / LOCAL).write_text(json.dumps(self.local, indent=2))
        return changed

    def probe(self, log) -> list[str]:
        """What is broken in a reused env (empty when it is whole)."""
        names = [name for name, _ in self.cell.requirements]
        code, out = procs.run([self.python, PLUGIN_DIR / "tfpin_probe.py", *names], timeout=120)
        problems = [ln.strip() for ln in (out or "").splitlines() if ln.strip()]
        if code != 0 and not problems:
            problems = ["the env's python does not run (exit %s)" % code]
        if problems:
            log("== probe of %s found: %s" % (self.path, "; ".join(problems)))
        return problems if code != 0 else []

    def run_installer(self, cmd, log, what: str) -> str:
        """An installer command for this env (a tool a run adds beside it), logged; InstallError when it fails."""
        return self._run(cmd, log, what)

    def _run(self, cmd, log, what):
        log("$ " + " ".join(str(c) for c in cmd))
        code, output = procs.run(cmd, cwd=self.project_root, timeout=INSTALL_TIMEOUT)
        output = output or ""
        log(output)
        if code is None:
            raise InstallError("%s did not finish within %d s" % (what, INSTALL_TIMEOUT))
        if code != 0:
            lines = [ln.strip() for ln in output.strip().splitlines() if ln.strip() and not installer.noise(ln)]
            if what == "install":
                no_build = self._no_build(output, log)
                if no_build:
                    raise Unavailable("installer: " + no_build)
            raise InstallError("%s failed (exit %d): %s" % (what, code, " | ".join(lines[-6:])))
        return output

    def _no_build(self, output: str, log) -> str:
        """The installer's words when one of *our pinned* packages has no build for this Python, else ''."""
        names = [name for name, _ in self.cell.requirements]
        lines = output.splitlines()
        said = installer.uv_no_build(output, names)
        if said:
            return said
        # pip only says "could not find a version"; ask it (verbosely) whether the index had builds of
        # exactly that release that this Python cannot use. An empty version list means the index was
        # not reached or does not know the package: an error, not a fact about the world.
        for line in lines:
            match = installer.PIP_NOT_FOUND.search(line)
            if not match or match.group(2).strip() in ("", "none"):
                continue
            requirement = match.group(1)
            name, _, version = requirement.partition("==")
            if name not in names or not version:
                continue
            evidence = self._pip_incompatible_builds(requirement, name, version, log)
            if evidence:
                return "%s | %s" % (installer.short(line.strip()), evidence)
        return ""

    def _pip_incompatible_builds(self, requirement, name, version, log) -> str:
        with tempfile.TemporaryDirectory() as scratch:
            cmd = [self.python, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-vv",
                   "-d", scratch, requirement]
            _, out = procs.run(cmd, cwd=self.project_root, timeout=INSTALL_TIMEOUT)
        name_re = "[-_.]".join(re.escape(part) for part in re.split(r"[-_.]+", name))
        spelled = re.compile(r"/%s-%s[-.]" % (name_re, re.escape(version)), re.I)
        incompatible = [ln.strip() for ln in (out or "").splitlines()
                        if ("none of the wheel's tags" in ln or "requires a different Python" in ln)
                        and spelled.search(ln)]
        log("== pip download -vv found %d builds of %s it cannot use" % (len(incompatible), requirement))
        if not incompatible:
            return ""
        return "%d builds of %s exist, none for this Python (e.g. %s)" % (
            len(incompatible), requirement, incompatible[0].split(":")[1].strip()[:80])

    def _create(self, interpreter, backend, log):
        for i, cmd in enumerate(installer.create(backend, interpreter, self.path, self.cell.pip)):
            self._run(cmd, log, "create" if i == 0 else "pip upgrade")

    def _install(self, backend, log):
        req = self.path / "tfpin-requirements.txt"
        con = self.path / "tfpin-constraints.txt"
        lines = self.cell.requirement_lines() + [absolute_install_line(x, self.project_root) for x in self.cell.install]
        req.write_text("\n".join(lines) + "\n")
        con.write_text("\n".join(self.cell.constraint_lines()) + "\n")
        self._run(installer.install(backend, self.python, req, con), log, "install")

    def freeze(self) -> str:
        """The installed set as it is now (re-read on every run, reused env or not)."""
        with self.timed("freeze"):
            return self._freeze()

    def _freeze(self) -> str:
        cmd = installer.freeze(installer.backend(), self.python, (self.path / "bin" / "pip").exists())
        code, out = procs.run(cmd, timeout=300)
        if code != 0:
            raise InstallError("freeze failed (exit %s): %s" % (code, (out or "").strip()[-300:]))
        return out if out.endswith("\n") else out + "\n"


def bytecode_on_import(env: Path, log) -> None:
    """Make the env write its own modules' bytecode on their first import (cellplugin/tfpin_bytecode.py says
    why and why it is safe), instead of compiling all of site-packages when it is built."""
    for site in sorted(Path(env).glob("lib/python*/site-packages")):
        shutil.copyfile(BYTECODE_HOOK, site / "_tfpin_bytecode.py")
        (site / "_tfpin_bytecode.pth").write_text("import _tfpin_bytecode\n")
        log("== bytecode is written on first import (%s)" % (site / "_tfpin_bytecode.pth"))


class _Timed:
    def __init__(self, steps: dict, step: str):
        self.steps, self.step = steps, step

    def __enter__(self):
        self.t0 = time.monotonic()

    def __exit__(self, *exc):
        self.steps[self.step] = round(self.steps.get(self.step, 0.0) + time.monotonic() - self.t0, 2)


def absolute_install_line(line: str, root: Path) -> str:
    """'.', '-e .', '-r reqs.txt' are relative to the project root, wherever the installer runs."""
    parts = line.strip().split()
    if parts and parts[0] in ("-r", "-c", "--requirement", "--constraint", "-e") and len(parts) == 2:
        return "%s %s" % (parts[0], (root / parts[1]).resolve())
    directory = local.directory(parts[0], root) if len(parts) == 1 else None
    if directory is not None:
        return str(directory.resolve()) + local.split_extras(parts[0])[1]
    return line.strip()
