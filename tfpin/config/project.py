"""The project whose tests tfpin runs: `tfpin.toml` or `[tool.tfpin]` in pyproject.toml.

Looked up from the current directory upwards, like pytest's rootdir or ruff's config. This
repository is one such project (`[tool.tfpin]` in its pyproject), run through exactly the
same path as a user's. Every key is validated before anything runs; an error names the file,
the key and what is allowed.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from tfpin import environ, files
from tfpin.config import local, tomlfile

CONFIG_FILE = "tfpin.toml"
KEYS = {"matrix", "test", "smoke", "install", "constraints", "env", "pass_env", "timeout", "sources", "bench",
        "cores"}
# Keys an earlier tfpin read, with what took their place.
RETIRED = {"cross": "cross-cell checks are now the project's own tests: a test writes an artifact with the "
                    "tfpin_artifact fixture and one marked @pytest.mark.tfpin_reads(name) reads it with tfpin_source "
                    "(docs/between-cells.md); delete the key"}
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")  # \Z: "$" would also match before a final newline
PASS_ENV_RE = re.compile(r"^[A-Za-z0-9_*?\[\]!]+\Z")  # a variable name, or an fnmatch glob of names
ENV_OWN = tuple(name for name in environ.OWN if name != "PYTHONPATH")  # [env] may put PYTHONPATH in front of tfpin's
REQUIREMENT_FILE_FLAGS = ("-r", "-c", "--requirement", "--constraint")
DEFAULT_TIMEOUT = 900  # seconds one test may run before it counts as hung


class ProjectError(ValueError):
    """The project configuration is missing or malformed; the message says where and what is allowed."""


class Project:
    def __init__(self, root: Path, source: Path, matrix: str = "table", test=(), install=(),
                 constraints=(), env=None, timeout: int = DEFAULT_TIMEOUT, smoke=None, sources=None, bench=None,
                 cores: float = 1.0, pass_env=()):
        self.root, self.source = Path(root), Path(source)
        self.matrix, self.test, self.install = matrix, list(test), list(install)
        self.smoke = list(smoke) if smoke else list(test)  # the cheap oracle of `tfpin pins discover`
        self.constraints, self.env, self.timeout = list(constraints), dict(env or {}), timeout
        # What the suite can import and run, for the verdict cache (tfpin/cell/cache.py): paths or globs under
        # the root; None = every git-tracked (and untracked, not ignored) file.
        self.sources = list(sources) if sources is not None else None
        # What the project runs in each cell beyond its tests, as arguments to the cell's Python: `bench`
        # prints one JSON object of figures (tfpin bench; what tfpin reads of it: tfpin/cell/bench.py).
        self.bench = list(bench) if bench else None
        # The cores one cell's suite needs at least (tfpin/load.py): a suite that runs processes of its own beside
        # pytest says so, and no run of it is over-subscribed, the first (nothing measured yet) included.
        self.cores = float(cores)
        # Host variables (names or globs) the suite may read, beside tfpin's allowlist (tfpin/environ.py): their
        # values are part of the verdict's key; every other host variable is unset in the cells.
        self.pass_env = list(pass_env)

    def install_files(self) -> list[Path]:
        """Requirement files the install lines name (`-r file`, `-c file`), and every file those name in turn,
        relative to the file that names it as pip and uv read them: their content is part of the stamp."""
        out: list[Path] = []
        pending = [(line, self.root) for line in self.install]
        while pending:
            line, base = pending.pop(0)
            parts = line.split("#")[0].split()
            if not (parts and parts[0] in REQUIREMENT_FILE_FLAGS and len(parts) == 2):
                continue
            path = (base / parts[1]).resolve()
            if path in out:
                continue
            out.append(path)
            if path.is_file():
                pending += [(ln, path.parent) for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()]
        return out

    def install_digest(self) -> dict:
        """Install lines plus a hash of every file they name, so editing requirements.txt rebuilds envs."""
        digests = {}
        for path in self.install_files():
            data = path.read_bytes() if path.is_file() else b""
            digests[os.path.relpath(path, self.root.resolve())] = files.short_digest(data)
        return {"install": self.install, "install_files": digests}


def find_config(start: Path) -> Path | None:
    """The nearest tfpin.toml, or pyproject.toml with a [tool.tfpin] table, from start upwards."""
    for directory in [start, *start.parents]:
        candidate = directory / CONFIG_FILE
        if candidate.is_file():
            return candidate
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and _has_tfpin_table(pyproject):
            return pyproject
    return None


def _has_tfpin_table(pyproject: Path) -> bool:
    """Whether the TOML parser finds tool.tfpin, in any spelling TOML allows ([tool.tfpin], [ tool.tfpin ],
    tool = { tfpin = ... }, ...). A pyproject.toml that does not parse but mentions tfpin is an error, not a miss."""
    try:
        data = tomlfile.read(pyproject)
    except tomlfile.Unreadable as exc:
        if b"tfpin" in pyproject.read_bytes():
            raise ProjectError(str(exc)) from None
        return False
    tool = data.get("tool")
    return isinstance(tool, dict) and "tfpin" in tool


def load(start: Path | None = None) -> Project:
    start = Path(start or os.getcwd()).resolve()
    path = find_config(start)
    if path is None:
        raise ProjectError(
            "no %s (or [tool.tfpin] in pyproject.toml) in %s or any parent directory; "
            "run `tfpin init` in your project root to write one" % (CONFIG_FILE, start))
    return load_file(path)


def load_file(path: Path) -> Project:
    path = Path(path).resolve()
    data = _table(path)
    root = path.parent

    def bad(key, what):
        return ProjectError("%s: key %r = %r %s" % (path, key, data[key], what))

    matrix = data.get("matrix", "table")
    if not isinstance(matrix, str) or not matrix.strip():
        raise bad("matrix", "must be a built-in matrix name (e.g. \"table\") or a path to a matrix .toml file")
    if matrix.endswith(".toml") or "/" in matrix:
        matrix = str((root / matrix).resolve())
    test, smoke = _test_args(path, root, data, bad)
    install = data.get("install", [])
    if not isinstance(install, list) or not all(isinstance(x, str) for x in install):
        raise bad("install", "must be a list of requirement lines, e.g. [\".\"] or [\"-r requirements.txt\"]")
    for line in install:
        _check_install_line(path, root, line)
    constraints = data.get("constraints", [])
    if not isinstance(constraints, list):
        raise bad("constraints", "must be an array of tables ([[constraints]] with pin, reason, optional when)")
    env = _env_table(path, data, bad)
    timeout = data.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
        raise ProjectError("%s: key 'timeout' = %r must be a positive whole number of seconds per test"
                           % (path, timeout))
    sources = _sources(root, data, bad)
    bench = data.get("bench")
    if bench is not None and not _arguments(bench):
        raise bad("bench", "must be a non-empty list of arguments to the cell's Python that print one JSON object of "
                           "figures, e.g. [\"-m\", \"mypkg.bench\", \"--json\"]")
    cores = data.get("cores", 1)
    if isinstance(cores, bool) or not isinstance(cores, (int, float)) or not 0.25 <= cores <= 64:  # NaN fails too
        raise ProjectError("%s: key 'cores' = %r must be a number from 0.25 to 64: how many cores one cell's suite "
                           "needs at least (tfpin schedules each cell's tests by it or by what it measured, the larger)"
                           % (path, cores))
    return Project(root, path, matrix, test, install, constraints, env, timeout, smoke, sources, bench, cores,
                   _pass_env(path, data))


def _table(path: Path) -> dict:
    """tfpin's table of the file (pyproject.toml's [tool.tfpin]), with no retired and no unknown key."""
    try:
        data = tomlfile.read(path)
    except tomlfile.Unreadable as exc:
        raise ProjectError(str(exc)) from None
    where = "top level"
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("tfpin")
        where = "[tool.tfpin]"
        if not isinstance(data, dict):
            raise ProjectError("%s: [tool.tfpin] must be a table" % path)
    retired = sorted(set(data) & set(RETIRED))
    if retired:
        raise ProjectError("%s: key %r is no longer read: %s" % (path, retired[0], RETIRED[retired[0]]))
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise ProjectError("%s: unknown key %s in %s; allowed keys: %s"
                           % (path, ", ".join(repr(k) for k in unknown), where, ", ".join(sorted(KEYS))))
    return data


def _test_args(path: Path, root: Path, data: dict, bad) -> tuple[list[str], list[str] | None]:
    """`test` and `smoke`: pytest arguments whose paths exist. No `test`: pytest's own discovery from the root (its
    testpaths, else the root), as `pytest` typed there."""
    test = data.get("test", [])
    if isinstance(test, str):
        test = [test]
    if not isinstance(test, list) or ("test" in data and not test) or not all(isinstance(t, str) and t for t in test):
        raise bad("test", "must be a non-empty list of pytest arguments, e.g. [\"tests/test_model.py\"]; leave the "
                          "key out to run what pytest itself collects from the project root")
    smoke = data.get("smoke")
    if isinstance(smoke, str):
        smoke = [smoke]
    if smoke is not None and (not isinstance(smoke, list) or not smoke or not all(isinstance(t, str) for t in smoke)):
        raise bad("smoke", "must be a non-empty list of pytest arguments: a cheap subset of `test` for pin discovery")
    for key, args in (("test", test), ("smoke", smoke or [])):
        _check_arguments(path, root, key, args)
    return test, smoke


def _env_table(path: Path, data: dict, bad) -> dict:
    """`[env]`: NAME = "value" strings, none of the variables tfpin sets itself (PYTHONPATH goes in front)."""
    env = data.get("env", {})
    if not isinstance(env, dict):
        raise bad("env", "must be a table of NAME = \"value\" strings")
    for name, value in env.items():
        if not ENV_NAME_RE.match(name) or not isinstance(value, str) or "\x00" in value:
            raise ProjectError("%s: key 'env.%s' must be a variable name with a string value (no NUL)" % (path, name))
        if name in ENV_OWN or name.startswith(environ.OWN_PREFIXES):
            raise ProjectError("%s: key 'env.%s': tfpin sets %s itself in every cell (its plugins and the cell's env "
                               "depend on it); PYTHONPATH is the one such variable [env] may give, and it goes in "
                               "front of tfpin's" % (path, name, name))
    return env


def _sources(root: Path, data: dict, bad) -> list[str] | None:
    """`sources`: paths or globs under the root, each path existing; None: every git-tracked file."""
    sources = data.get("sources")
    if sources is None:
        return None
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) and s for s in sources):
        raise bad("sources", "must be a non-empty list of paths or globs under the project root (what the "
                             "suite imports and runs, e.g. [\"src\", \"tests\"]); leave it out to use every "
                             "git-tracked file")
    for entry in sources:
        named = _under(root, entry)
        if named is None:
            raise bad("sources", "names %r, which is not a path under the project root %s (relative, no '..' "
                                 "out of it, no control characters)" % (entry, root))
        if not any(c in entry for c in "*?[") and not files.exists(named):
            raise bad("sources", "names %s, which does not exist under %s" % (entry, root))
    return sources


def _pass_env(path: Path, data: dict) -> list[str]:
    value = data.get("pass_env", [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and PASS_ENV_RE.match(v) for v in value):
        raise ProjectError("%s: key 'pass_env' = %r must be a list of host variable names or globs the suite may "
                           "read, e.g. [\"APP_*\", \"DATA_DIR\"] (letters, digits, _ and the glob characters * ? [ ])"
                           % (path, value))
    for pattern in value:
        if pattern in environ.OWN or pattern in environ.SCRUBBED or pattern.startswith(environ.OWN_PREFIXES):
            raise ProjectError("%s: key 'pass_env' names %s, which tfpin sets itself or never lets a cell inherit "
                               "(PATH, PYTHONPATH, TFPIN_*, the installers' constraint and config variables); give "
                               "a value under [env] instead" % (path, pattern))
    return value


def _arguments(value) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(a, str) and a and not files.CONTROL_RE.search(a) for a in value)


def _check_arguments(path: Path, root: Path, key: str, args: list) -> None:
    """Each argument that is a test path must exist under the root; an option's own value (`-m "not slow"`, the
    argument after an option given without `=`) is pytest's to judge, not a path."""
    after_option = False
    for arg in args:
        if files.CONTROL_RE.search(arg):
            raise ProjectError("%s: key %r argument %r holds a control character (newline, tab, NUL)"
                               % (path, key, arg))
        if arg.startswith("-"):
            after_option = "=" not in arg and len(arg) > 1
            continue
        if after_option:
            after_option = False
            continue
        target = arg.split("::")[0]
        where = _under(root, target, inside=False)
        if where is None or not files.exists(where):
            raise ProjectError("%s: key %r = %r names %s, which does not exist under %s (a test path relative to the "
                               "project root, or an option's value right after the option)"
                               % (path, key, args, target, root))


def _under(root: Path, entry: str, inside: bool = True) -> Path | None:
    """The path `entry` names relative to the root; None when it is absolute, holds a control character, or (inside)
    leaves the root."""
    if not entry or files.CONTROL_RE.search(entry) or os.path.isabs(entry):
        return None
    joined = Path(os.path.normpath(root / entry))
    if inside and not (joined == root or root in joined.parents):
        return None
    return joined


def _check_install_line(path: Path, root: Path, line: str) -> None:
    stripped = line.strip()
    if stripped in (".", "-e .", "-e."):
        return
    if files.CONTROL_RE.search(line):
        raise ProjectError("%s: key 'install' line %r holds a control character (newline, tab, NUL)" % (path, line))
    parts = stripped.split()
    if parts and parts[0] in REQUIREMENT_FILE_FLAGS:
        named = _under(root, parts[1], inside=False) if len(parts) == 2 else None
        if named is None or not named.is_file():
            raise ProjectError("%s: key 'install' line %r must name a requirements file by a path relative to the "
                               "project root %s, and that file must exist" % (path, line, root))
        return
    if parts and parts[0] == "-e" and len(parts) == 2 and local.directory(parts[1], root) is not None:
        return
    if local.directory(stripped, root) is not None:  # a directory of the project, extras allowed: ".[tests]"
        return
    try:
        Requirement(stripped)
    except InvalidRequirement as exc:
        raise ProjectError("%s: key 'install' line %r is not a requirement (%s); allowed: \".\", \"-e .\", "
                           "\"-r FILE\", or a PEP 508 line like \"pyyaml<6\"" % (path, line, exc)) from None
