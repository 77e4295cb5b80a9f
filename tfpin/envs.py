"""Create, reuse, check and freeze one virtual environment per cell.

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
import threading
from pathlib import Path

from packaging.utils import canonicalize_name

from . import environ, procs
from .cells import Cell
from .interpreters import find

STAMP = "tfpin-stamp.json"
LOCAL = "tfpin-local.json"  # digests of the project trees the install lines put here (tfpin/local.py)
PLUGIN_DIR = Path(__file__).resolve().parent / "cellplugin"
INSTALL_TIMEOUT = 1800

# uv's words for "the index has this requirement, but no build of it for this Python".
UV_NO_BUILD = [
    re.compile(r"has no wheels with a matching Python (ABI|version) tag"),
    re.compile(r"only found wheels for .* with the following Python (ABI|implementation|version) tags?"),
    re.compile(r"the current Python version \([\d.]+\) does not satisfy Python"),
    re.compile(r"has no wheels with a matching platform tag"),
]
PIP_NOT_FOUND = re.compile(r"Could not find a version that satisfies the requirement (\S+) \(from versions: ([^)]*)\)")


class MissingInterpreter(Exception):
    """This machine has no interpreter for the cell's Python."""


class Unavailable(Exception):
    """The installer says a pinned package has no build for this Python: the cell cannot exist."""


class InstallError(Exception):
    """The environment could not be built for another reason; message has the installer's last lines."""


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


def installer() -> str:
    return "uv" if uv_binary() else "venv"


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
            "bytecode": "compileall",  # envs built before installs were compiled are rebuilt, not reused slow
        }

    def wanted_stamp(self) -> dict:
        """The stamp this cell's env must carry to be reused (LookupError without an interpreter)."""
        interpreter, version = find(self.cell.python)
        return self.stamp(interpreter, version, installer())

    def ensure(self, log) -> dict:
        """Make the environment current. Returns {'reused', 'installer', 'rebuilt_because', 'reinstalled'}."""
        try:
            interpreter, version = find(self.cell.python)
        except LookupError as exc:
            raise MissingInterpreter(str(exc)) from None
        backend = installer()
        stamp = self.stamp(interpreter, version, backend)
        stamp_file = self.path / STAMP
        why = "new environment"
        if self.python.exists() and stamp_file.exists():
            try:
                same = json.loads(stamp_file.read_text()) == stamp
            except ValueError:
                same = False
            if same:
                problems = self.probe(log)
                if not problems:
                    return {"reused": True, "installer": backend, "rebuilt_because": "",
                            "reinstalled": self.refresh_local(backend, log)}
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
            self._create(interpreter, backend, log)
            self._install(backend, log)
            self._compile(log)
        except BaseException:  # an installer failure or an interrupt: never leave a half-built env to be reused
            shutil.rmtree(self.path, ignore_errors=True)
            raise
        stamp_file.write_text(json.dumps(stamp, indent=2))
        (self.path / LOCAL).write_text(json.dumps(self.local, indent=2))
        return {"reused": False, "installer": backend, "rebuilt_because": why if why != "new environment" else "",
                "reinstalled": []}

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
        if backend == "uv":  # --reinstall implies --refresh: the tree is built again, not taken from uv's cache
            cmd = [uv_binary(), "pip", "install", "--python", self.python, "--no-deps", "--reinstall", *args]
        else:
            cmd = [self.python, "-m", "pip", "install", "--disable-pip-version-check", "--no-compile", "--no-deps",
                   "--force-reinstall", *args]
        self._run(cmd, log, "re-install of the project")
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

    def _run(self, cmd, log, what):
        log("$ " + " ".join(str(c) for c in cmd))
        code, output = procs.run(cmd, cwd=self.project_root, timeout=INSTALL_TIMEOUT)
        output = output or ""
        log(output)
        if code is None:
            raise InstallError("%s did not finish within %d s" % (what, INSTALL_TIMEOUT))
        if code != 0:
            lines = [ln.strip() for ln in output.strip().splitlines() if ln.strip() and not _noise(ln)]
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
        said = uv_no_build(output, names)
        if said:
            return said
        # pip only says "could not find a version"; ask it (verbosely) whether the index had builds of
        # exactly that release that this Python cannot use. An empty version list means the index was
        # not reached or does not know the package: an error, not a fact about the world.
        for line in lines:
            match = PIP_NOT_FOUND.search(line)
            if not match or match.group(2).strip() in ("", "none"):
                continue
            requirement = match.group(1)
            name, _, version = requirement.partition("==")
            if name not in names or not version:
                continue
            evidence = self._pip_incompatible_builds(requirement, name, version, log)
            if evidence:
                return "%s | %s" % (_short(line.strip()), evidence)
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
        if backend == "uv":
            self._run([uv_binary(), "venv", "-q", "--python", interpreter, self.path], log, "create")
        else:
            self._run([interpreter, "-m", "venv", self.path], log, "create")
            self._run([self.python, "-m", "pip", "install", "-q", "--disable-pip-version-check", self.cell.pip],
                      log, "pip upgrade")

    def _install(self, backend, log):
        req = self.path / "tfpin-requirements.txt"
        con = self.path / "tfpin-constraints.txt"
        lines = self.cell.requirement_lines() + [absolute_install_line(x, self.project_root) for x in self.cell.install]
        req.write_text("\n".join(lines) + "\n")
        con.write_text("\n".join(self.cell.constraint_lines()) + "\n")
        if backend == "uv":
            cmd = [uv_binary(), "pip", "install", "--python", self.python, "-r", req, "-c", con]
        else:
            cmd = [self.python, "-m", "pip", "install", "--disable-pip-version-check", "--no-compile",
                   "-r", req, "-c", con]  # compiled by _compile, the same way for both installers
        self._run(cmd, log, "install")

    def _compile(self, log):
        """Byte-compile site-packages once, with the cell's own interpreter.

        The suite runs with PYTHONDONTWRITEBYTECODE=1 (nothing written into the user's tree), so without
        this every fresh process compiled TensorFlow's ~2,400 modules again: `import tensorflow, keras`
        took 3.5 s instead of 1.3 s (TF 1.15, py3.7), in each of the ~30 processes a cell suite starts.
        uv's --compile-bytecode cannot be used: its compile script needs Python >= 3.7.  A file that
        does not compile (a stray Python 2 module in some sdist) is logged and left to import as source.
        """
        for site in sorted(self.path.glob("lib/python*/site-packages")):
            cmd = [self.python, "-m", "compileall", "-q", "-j", "0", site]
            log("$ " + " ".join(str(c) for c in cmd))
            code, output = procs.run(cmd, cwd=self.project_root, timeout=INSTALL_TIMEOUT)
            if code != 0:
                log("== compileall exit %s (modules it could not compile import from source):\n%s"
                    % (code, (output or "").strip()[-2000:]))

    def freeze(self) -> str:
        """The installed set as it is now (re-read on every run, reused env or not)."""
        if installer() == "uv" and not (self.path / "bin" / "pip").exists():
            cmd = [uv_binary(), "pip", "freeze", "--python", self.python]
        else:
            cmd = [self.python, "-m", "pip", "freeze", "--disable-pip-version-check"]
        code, out = procs.run(cmd, timeout=300)
        if code != 0:
            raise InstallError("freeze failed (exit %s): %s" % (code, (out or "").strip()[-300:]))
        return out if out.endswith("\n") else out + "\n"


def absolute_install_line(line: str, root: Path) -> str:
    """'.', '-e .', '-r reqs.txt' are relative to the project root, wherever the installer runs."""
    parts = line.strip().split()
    if parts and parts[0] in ("-r", "-c", "--requirement", "--constraint", "-e") and len(parts) == 2:
        return "%s %s" % (parts[0], (root / parts[1]).resolve())
    if len(parts) == 1 and (parts[0].startswith(".") or (root / parts[0]).is_dir()):
        return str((root / parts[0]).resolve())
    return line.strip()


def _noise(line: str) -> bool:
    return "is ignored: it is neither a file nor a directory" in line


def uv_no_build(output: str, names) -> str:
    """uv's own line saying one of `names` has no build for this Python, else ''."""
    for line in output.splitlines():
        if any(p.search(line) for p in UV_NO_BUILD) and any(n in line for n in names):
            return _short(line.strip())
    return ""


def _short(line: str) -> str:
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
    out = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if "==" in line and not line.startswith("-"):
            name, _, version = line.partition("==")
            out[canonicalize_name(name.split("[")[0])] = version.split(";")[0].strip()
    return out
