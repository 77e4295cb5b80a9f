"""Writing tfpin's outputs so that a reader, a crash or a signal never finds half a file."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from tfpin import procs


class Unwritable(OSError):
    """An output tfpin could not write (a full disk, a directory turned read-only): the message names the file
    and says that what was written before is still there, since every write replaces a file whole or not at all."""

    def __init__(self, path: Path, exc: OSError):
        super().__init__(exc.errno, "cannot write %s (%s): make room or make it writable, then run again; every "
                                    "file written before is intact" % (path, exc.strerror or exc))
        self.path = path

    def __str__(self) -> str:
        return self.strerror or ""



CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")  # no newline, tab or NUL in a path, an argument or a value


def exists(path: Path, is_file: bool = False, is_dir: bool = False) -> bool:
    """Whether a path a person named exists (is a file, a directory): False, not an OSError, for a name too long
    for the file system or with NUL in it."""
    try:
        return path.is_file() if is_file else path.is_dir() if is_dir else path.exists()
    except (OSError, ValueError):
        return False


def short_digest(data, length: int = 16) -> str:
    """The first `length` hex digits of the sha256 of bytes, text, or a JSON value (keys sorted): the one way
    tfpin fingerprints things, so that no two of its keys differ in how they spell the same content."""
    if isinstance(data, bytes):
        raw = data
    else:
        text = data if isinstance(data, str) else json.dumps(data, sort_keys=True)
        raw = text.encode("utf-8", "surrogateescape")
    return hashlib.sha256(raw).hexdigest()[:length]


def read_json(path: Path, kind=dict):
    """A JSON file tfpin wrote earlier, or None when it is missing, unreadable or not of `kind`: a damaged record
    is a record to make again, never a crash."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, kind) else None


def write_atomic(path: Path, text: str) -> None:
    """Temp file, fsync, rename, fsync of the directory: the file is the old one or the new one, even after
    a power cut; the first Ctrl-C waits for the rename (procs.critical); a failed write leaves no temp file and
    raises Unwritable naming the file."""
    path = Path(path)
    try:
        _write_atomic(path, text)
    except Unwritable:
        raise
    except OSError as exc:
        raise Unwritable(path, exc) from None


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp%d" % os.getpid())
    with procs.critical():
        try:
            with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:  # bytes read in stay bytes
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def move_aside(path: Path, aside: Path) -> bool:
    """Rename a file or directory to aside (replacing an older one there); False when there was nothing to move."""
    if not path.exists():
        return False
    aside.parent.mkdir(parents=True, exist_ok=True)
    remove(aside)
    os.replace(path, aside)
    return True


def remove(path: Path) -> None:
    """Delete a file or a whole directory; nothing there is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def git_files(root: Path) -> list[Path] | None:
    """Tracked plus untracked-but-not-ignored files below root, as they are in the working tree now; None
    outside a git checkout (or without git), and for a tree git lists nothing of (one it ignores): a caller
    then takes every file, never none."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "-co", "--exclude-standard"],
                             capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return [Path(root) / name for name in out.stdout.decode("utf-8", "surrogateescape").split("\0") if name] or None


# Never part of a tree, wherever they are: VCS data and caches that hold nothing but derived files.
NEVER = {".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
# Never part of a tree at its top only: tfpin's and the usual tools' environments, and what installing the
# tree writes into it. A directory named `reports` or `.venv` deeper down may be code (`myapp/reports/pdf.py`).
TOP_ONLY_NEVER = {".tfpin", ".nox", ".tox", ".venv", "build", "dist", ".eggs"}


def kept(parts) -> bool:
    """Whether a file at these path parts (relative to the tree's top) is part of the tree."""
    dirs = parts[:-1]
    return not (set(dirs) & NEVER or any(d.endswith(".egg-info") for d in dirs)
                or (len(parts) > 1 and parts[0] in TOP_ONLY_NEVER))


def walk(path: Path):
    """Every file below path, without VCS data, caches, bytecode or any virtualenv (a pyvenv.cfg)."""
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if d not in NEVER and not (Path(dirpath) / d / "pyvenv.cfg").exists()]
        for name in filenames:
            if not name.endswith((".pyc", ".pyo")):
                yield Path(dirpath) / name


def tree(path: Path, outputs=()) -> list[Path]:
    """The files of a tree, sorted: what git sees there (else every file), without tfpin's own outputs
    (`outputs`: the report and env directories of this run, wherever they are)."""
    path = Path(path)
    found = git_files(path)
    if found is None:
        found = list(walk(path))
    outputs = [Path(o).resolve() for o in outputs]
    return sorted(set(f for f in found if f.is_file() and kept(f.relative_to(path).parts)
                      and not any(f.resolve().is_relative_to(o) for o in outputs)))


def digest(root: Path, files) -> str:
    """Paths (relative to root) and contents of files, so a rename, an edit, a new or a deleted file each
    change it."""
    h = hashlib.sha256()
    for path in files:
        h.update(str(Path(path).relative_to(root)).encode("utf-8", "surrogateescape") + b"\0")
        h.update(hashlib.sha256(Path(path).read_bytes()).digest())
    return h.hexdigest()[:16]
