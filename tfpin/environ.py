"""What of the host environment reaches tfpin's children, and what of it a verdict depends on.

A cell sees only what is listed here, the way tox's `pass_env` works: the variables every program needs
(PATH, HOME, locale, temp dir, proxies, CA bundles, the CI markers), those that change what TensorFlow does
on a machine (CUDA_*, LD_LIBRARY_PATH, OMP_*/MKL_*/KMP_*, ...), and the project's own `pass_env` patterns.
Everything else is unset, so a suite that reads an undeclared variable behaves the same in every cell and on
every machine; the value of every variable that does pass is part of the verdict's key (tfpin/cell/cache.py).

The installer's children (uv, pip, the env probe, freeze) see that set plus the installer's own variables
(UV_*, PIP_*, the compiler variables an sdist build reads), less those that would install something other
than the cell's definition (host constraints, overrides, VIRTUAL_ENV): tfpin drops and names them. No
installer config file (uv.toml, pip.conf, wherever they are) applies to a child (UV_NO_CONFIG,
PIP_CONFIG_FILE=/dev/null). `installer_settings()` is the part that decides *what gets installed*
(indexes, find-links, resolution strategy): it goes into the env stamp, so an env built against another
index is rebuilt, and through the stamp into the verdict cache key.
"""
from __future__ import annotations

import fnmatch
import os
import sys
from pathlib import Path

from tfpin.cellplugin import tfpin_vars

# What every program expects (tox passes the same by default), by exact name or glob.
PASSED = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_*", "TZ", "TMPDIR",
          "http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
          "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
          "CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "JENKINS_URL")
# What changes how TensorFlow, its BLAS and OpenMP run on this machine: devices, libraries, thread pools.
MACHINE = ("CUDA_*", "NVIDIA_*", "LD_LIBRARY_PATH", "OMP_*", "MKL_*", "KMP_*", "OPENBLAS_*", "HDF5_*")
# Only the installer's children: its own settings and what an sdist build reads (tox passes the same).
INSTALLER = ("UV_*", "PIP_*", "XDG_CACHE_HOME", "CC", "CXX", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS",
             "PKG_CONFIG_PATH")

# A host PYTHONPATH, a `-k` in PYTEST_ADDOPTS, TF's log/threading knobs, Keras' backend choice: never inherited.
SCRUBBED_PREFIXES = ("PYTHON", "PYTEST_", "TF_", "KERAS_")
# Constraints and overrides from the host would install something other than the cell's definition while
# the report and the recommended pin name the definition: dropped, and said (`ignored()`).
SCRUBBED = ("VIRTUAL_ENV", "UV_CONSTRAINT", "UV_OVERRIDE", "UV_BUILD_CONSTRAINT", "PIP_CONSTRAINT",
            "PIP_BUILD_CONSTRAINT", "UV_SYSTEM_PYTHON", "UV_PYTHON", "PIP_REQUIRE_VIRTUALENV", "UV_CONFIG_FILE",
            "PIP_CONFIG_FILE")
# Where a cell run's plugins put their records (set by incell.cell_environ): paths, which cannot change what a suite
# computes (not in the verdict's key), and which only the cell's own suite may write to (not the readers between cells).
RUN_PATHS = tfpin_vars.RUN_PATHS
# Set by tfpin in every cell (tfpin/cell/incell.py): no host value, and no `pass_env` pattern, reaches a cell for these.
OWN = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PATH")
OWN_PREFIXES = ("TFPIN_",)
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


def matches(name: str, patterns) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def child(environ=None) -> dict:
    """The environment of the installer's children (uv, pip, the env probe, freeze)."""
    environ = os.environ if environ is None else environ
    return {**{k: v for k, v in environ.items() if matches(k, PASSED + MACHINE + INSTALLER) and not scrubbed(k)},
            **NO_CONFIG}


def suite(bin_dir: Path, pass_env=(), environ=None) -> dict:
    """The host's part of a cell's environment (the suite, its import check, readers, trials): the allowlist and
    the project's `pass_env` patterns (which may name a TF_*/KERAS_* variable on purpose, never one tfpin sets or
    drops). PATH starts with the cell env's scripts and never holds the environment tfpin itself runs in."""
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items() if (matches(k, PASSED + MACHINE) and not scrubbed(k))
           or (matches(k, pass_env) and k not in SCRUBBED and k not in OWN and not k.startswith(OWN_PREFIXES))}
    own_bin = str(Path(sys.prefix) / "bin") if sys.prefix != sys.base_prefix else None
    path = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and p != own_bin]
    env["PATH"] = os.pathsep.join([str(bin_dir)] + path)
    return {**env, **NO_CONFIG}


def passed(host_part: dict) -> list[str]:
    """The names of the host variables in suite()'s result (for the report: names, never values)."""
    return sorted(k for k in host_part if k not in NO_CONFIG)


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


# tfpin's own knobs, read from the host: (default seconds, smallest, largest) and what each sets.
KNOBS = {"TFPIN_SAMPLE_S": (1.0, 0.05, 60.0, "how often the cores a cell keeps busy are sampled"),
         "TFPIN_HEARTBEAT_S": (30.0, 0.1, 86400.0, "how often a plain log gets a line per running cell")}


class BadVariable(ValueError):
    """A tfpin variable of the host with a value it cannot use; the message names it and what is allowed."""


def seconds(name: str) -> float:
    """The knob's value, or BadVariable naming it, its value and the range allowed."""
    default, low, high, what = KNOBS[name]
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # NaN fails too
        raise BadVariable("%s=%r: %s must be a number of seconds from %g to %g (default %g); unset it or fix it"
                          % (name, raw, what, low, high, default))
    return value


def check_knobs() -> None:
    """Every tfpin variable of the host is usable, before anything runs."""
    for name in KNOBS:
        seconds(name)

