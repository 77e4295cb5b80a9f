"""The project's own code that install lines put into a cell env, and whether the copy there is current.

`install = ["."]` (or "-e .", a path, a `-r` file naming paths) copies the project into the env when
the env is built. A reused env would then test that old copy, not the code on disk: a src-layout
library edited after the first run still passed. So each local tree named by an install line has a
digest (every file git sees there, or every file of the tree without VCS, build outputs and caches
excluded); the env records the digests it was installed with, and a reused env whose trees changed
gets them re-installed (`--no-deps`, reinstall) before the suite runs. The digests are also part of
the verdict cache key.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .files import git_files

# Never part of a tree's digest: VCS data, caches, build outputs (a wheel build writes them into the tree).
SKIPPED_DIRS = {".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".tox", ".nox", ".tfpin",
                "build", "dist", ".eggs"}
REQUIREMENT_FILE_FLAGS = ("-r", "--requirement")


class LocalLine:
    """One install line that installs a directory: `line` is what tfpin passes to the installer."""

    def __init__(self, path: Path, editable: bool):
        self.path, self.editable = Path(path).resolve(), editable

    def args(self) -> list[str]:
        return ["-e", str(self.path)] if self.editable else [str(self.path)]

    def __repr__(self):
        return ("-e " if self.editable else "") + str(self.path)


def _directory(token: str, root: Path) -> Path | None:
    """The directory an install token names (the rule `absolute_install_line` applies), else None."""
    token = token[len("file:"):] if token.startswith("file:") else token
    if any(c in token for c in "<>=!~;[@"):
        return None
    candidate = Path(token) if os.path.isabs(token) else root / token
    return candidate if candidate.is_dir() else None


def local_lines(install, root: Path, _seen=None) -> list[LocalLine]:
    """The directories the project's install lines (and the requirement files they name) install."""
    root = Path(root)
    seen = set() if _seen is None else _seen
    out: list[LocalLine] = []
    for raw in install:
        parts = raw.split("#")[0].strip().split()
        if not parts:
            continue
        if parts[0] in REQUIREMENT_FILE_FLAGS and len(parts) == 2:
            path = (root / parts[1]).resolve()
            if path in seen or not path.is_file():
                continue
            seen.add(path)
            # pip and uv resolve paths inside a requirements file against the working directory, which
            # for tfpin's installs is the project root.
            out += local_lines(path.read_text(encoding="utf-8").splitlines(), root, seen)
            continue
        editable = parts[0] in ("-e", "--editable")
        target = parts[1] if editable and len(parts) == 2 else parts[0] if len(parts) == 1 else None
        if target is None or target.startswith("-"):
            continue
        directory = _directory(target, root)
        if directory is not None:
            out.append(LocalLine(directory, editable))
    return out


def _walk(path: Path):
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if d not in SKIPPED_DIRS and not d.endswith(".egg-info")
                       and not (Path(dirpath) / d / "pyvenv.cfg").exists()]
        for name in filenames:
            if not name.endswith((".pyc", ".pyo")):
                yield Path(dirpath) / name


def tree_digest(path: Path, outputs=()) -> str:
    """Paths and contents of the tree's files (tfpin's own outputs under it excluded)."""
    outputs = [Path(o).resolve() for o in outputs]
    files = git_files(path)
    if files is None:
        files = list(_walk(path))
    h = hashlib.sha256()
    for file in sorted(set(files)):
        resolved = file.resolve()
        if not file.is_file() or any(resolved.is_relative_to(o) for o in outputs):
            continue
        parts = set(file.relative_to(path).parts)
        if parts & SKIPPED_DIRS or any(p.endswith(".egg-info") for p in parts):
            continue
        h.update(str(file.relative_to(path)).encode("utf-8", "surrogateescape") + b"\0")
        h.update(hashlib.sha256(file.read_bytes()).digest())
    return h.hexdigest()[:16]


def digests(install, root: Path, outputs=()) -> dict:
    """{install line as passed to the installer: digest of its tree}; empty when nothing local is installed."""
    return {repr(line): tree_digest(line.path, outputs) for line in local_lines(install, root)}
