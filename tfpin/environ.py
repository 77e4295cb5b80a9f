"""What the host environment may pass to tfpin's children, and what of it a verdict depends on.

Every child (installer, env probe, freeze, compileall, pytest, pin trials) starts from `child()`:
the host environment without the variables that would make a cell run something other than its
definition. The installers' config files (uv.toml, pip.conf, wherever they are) do not apply to a cell
(UV_NO_CONFIG, PIP_CONFIG_FILE=/dev/null): a constraint there would change what a cell installs while
nothing tfpin keys could see it; tfpin says which ones it ignored. `installer_settings()` is the part
that decides *what gets installed* (indexes, find-links, resolution strategy, given as variables): it
goes into the env stamp, so an env built against another index is rebuilt, and through the stamp into
the verdict cache key.
"""
from __future__ import annotations

import os
from pathlib import Path

# A host PYTHONPATH, a `-k` in PYTEST_ADDOPTS, TF's log/threading knobs, Keras' backend choice: never inherited.
SCRUBBED_PREFIXES = ("PYTHON", "PYTEST_", "TF_", "KERAS_")
# Constraints and overrides from the host would install something other than the cell's definition while
# the report and the recommended pin name the definition: dropped, and said (`ignored()`).
SCRUBBED = ("VIRTUAL_ENV", "UV_CONSTRAINT", "UV_OVERRIDE", "UV_BUILD_CONSTRAINT", "PIP_CONSTRAINT",
            "PIP_BUILD_CONSTRAINT", "UV_SYSTEM_PYTHON", "UV_PYTHON", "PIP_REQUIRE_VIRTUALENV", "UV_CONFIG_FILE",
            "PIP_CONFIG_FILE")
# No installer config file applies to a child: uv reads none with UV_NO_CONFIG, pip none with os.devnull.
NO_CONFIG = {"UV_NO_CONFIG": "1", "PIP_CONFIG_FILE": os.devnull}
# Where packages come from and how a resolver picks them: part of the env stamp, per installer.
SETTINGS = {
    "uv": ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_INDEX", "UV_FIND_LINKS", "UV_NO_INDEX",
           "UV_INDEX_STRATEGY", "UV_PRERELEASE", "UV_RESOLUTION", "UV_EXCLUDE_NEWER", "UV_NO_BINARY",
           "UV_NO_BUILD", "UV_NO_BINARY_PACKAGE", "UV_NO_BUILD_PACKAGE"),
    "venv": ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_PRE",
             "PIP_ONLY_BINARY", "PIP_NO_BINARY", "PIP_PREFER_BINARY"),
}


def scrubbed(name: str) -> bool:
    return name.startswith(SCRUBBED_PREFIXES) or name in SCRUBBED


def child(environ=None) -> dict:
    """The environment every child of tfpin starts from."""
    environ = os.environ if environ is None else environ
    return {**{k: v for k, v in environ.items() if not scrubbed(k)}, **NO_CONFIG}


def ignored(backend: str, project_root: Path, environ=None) -> list[str]:
    """The host's installer constraints, and the config files the installer in use would have read, that tfpin
    drops (to say so once per run)."""
    environ = os.environ if environ is None else environ
    names = sorted(k for k in environ if k in SCRUBBED and k.startswith(("UV_", "PIP_")))
    return names + [str(p) for p in config_files(backend, project_root, environ) if p.is_file()]


def config_files(backend: str, project_root: Path, environ=None) -> list[Path]:
    """Where the installer (uv, else pip) would look for its config: none of them applies to a cell."""
    environ = os.environ if environ is None else environ
    home = Path(environ.get("HOME", "~")).expanduser()
    xdg_home = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    xdg_dirs = [Path(d) for d in (environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":") if d]
    if backend == "uv":
        named = [Path(environ["UV_CONFIG_FILE"])] if environ.get("UV_CONFIG_FILE") else []
        return [Path(project_root) / "uv.toml", xdg_home / "uv" / "uv.toml",
                *[d / "uv" / "uv.toml" for d in xdg_dirs], Path("/etc/uv/uv.toml"), *named]
    named = [Path(environ["PIP_CONFIG_FILE"])] if environ.get("PIP_CONFIG_FILE") else []
    return [Path("/etc/pip.conf"), *[d / "pip" / "pip.conf" for d in xdg_dirs], home / ".pip" / "pip.conf",
            xdg_home / "pip" / "pip.conf", *named]


def installer_settings(backend: str, project_root: Path, environ=None) -> dict:
    """The installer's variables that decide what is installed (its config files do not apply to cells)."""
    environ = os.environ if environ is None else environ
    return {"variables": {k: environ[k] for k in SETTINGS.get(backend, ()) if k in environ}}


def cpus() -> int:
    """The CPUs this process may use (its affinity, not the machine's count): what parallel work is sized by."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
