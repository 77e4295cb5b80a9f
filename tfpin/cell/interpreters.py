"""Find a CPython X.Y without the user doing anything.

pyenv's shims on PATH only answer for *active* versions, so a `python3.6` shim may
exist and still fail. Every candidate is therefore asked for its own version; the
first one that answers correctly wins. Order: PATH, then pyenv's versions folder.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path


class InterpreterNotFound(LookupError):
    pass


def _pyenv_roots() -> list[Path]:
    roots = []
    if os.environ.get("PYENV_ROOT"):
        roots.append(Path(os.environ["PYENV_ROOT"]))
    roots.append(Path.home() / ".pyenv")
    return roots


def candidates(python: str) -> list[str]:
    found = []
    exe = shutil.which("python" + python)
    if exe:
        found.append(exe)
    for root in _pyenv_roots():
        versions = root / "versions"
        if versions.is_dir():
            matches = sorted(
                versions.glob(python + ".*"),
                key=lambda p: [int(x) if x.isdigit() else 0 for x in p.name.split(".")],
                reverse=True,
            )
            found += [str(m / "bin" / "python") for m in matches if (m / "bin" / "python").exists()]
    return list(dict.fromkeys(found))


@functools.lru_cache(maxsize=None)
def find(python: str) -> tuple[str, str]:
    """Return (path, full version) of a working interpreter for `python` ("3.6")."""
    tried = []
    for exe in candidates(python):
        try:
            out = subprocess.run(
                [exe, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                capture_output=True, text=True, timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            tried.append("%s (%s)" % (exe, exc))
            continue
        version = out.stdout.strip()
        if out.returncode == 0 and version.startswith(python + "."):
            return str(Path(exe).resolve()) if "shims" not in exe else exe, version
        tried.append("%s (%s)" % (exe, (out.stderr.strip().splitlines() or [version or "no answer"])[-1]))
    raise InterpreterNotFound(
        "no Python %s interpreter found; tried: %s. Install it (e.g. `pyenv install %s`) or put python%s on PATH"
        % (python, "; ".join(tried) or "python%s on PATH and pyenv versions (none present)" % python, python, python)
    )
