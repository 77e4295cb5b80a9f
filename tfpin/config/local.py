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

import os
import re
from pathlib import Path

from tfpin import files

REQUIREMENT_FILE_FLAGS = ("-r", "--requirement")


class LocalLine:
    """One install line that installs a directory (with its extras, `.[tests]`); its repr is the line as tfpin
    passes it to the installer."""

    def __init__(self, path: Path, editable: bool, extras: str = ""):
        self.path, self.editable, self.extras = Path(path).resolve(), editable, extras

    def __repr__(self):
        return ("-e " if self.editable else "") + str(self.path) + self.extras


EXTRAS = re.compile(r"^(?P<path>[^\[\]]+?)(?P<extras>\[[\w.,\s-]+\])?$")


def split_extras(token: str) -> tuple[str, str]:
    """('.', '[tests]') for '.[tests]'; (token, '') when it names no extras."""
    found = EXTRAS.match(token)
    return (found.group("path"), found.group("extras") or "") if found else (token, "")


def directory(token: str, root: Path) -> Path | None:
    """The directory an install token names (`.`, `.[tests]`, `./pkg`, `file:pkg`, an absolute path), else None:
    a requirement spelled like a name that is also a directory of the project installs that directory."""
    token = token[len("file:"):] if token.startswith("file:") else token
    token = split_extras(token)[0]
    if any(c in token for c in "<>=!~;[@"):
        return None
    candidate = Path(token) if os.path.isabs(token) else root / token
    return candidate if files.exists(candidate, is_dir=True) else None


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
        found = directory(target, root)
        if found is not None:
            out.append(LocalLine(found, editable, split_extras(target)[1]))
    return out


def tree_digest(path: Path, outputs=()) -> str:
    """Paths and contents of the tree's files (tfpin's own outputs under it excluded)."""
    return files.digest(path, files.tree(path, outputs))


def digests(install, root: Path, outputs=()) -> dict:
    """{install line as passed to the installer: digest of its tree}; empty when nothing local is installed."""
    return {repr(line): tree_digest(line.path, outputs) for line in local_lines(install, root)}
