"""Writing tfpin's outputs so that a reader, a crash or a signal never finds half a file."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from . import procs


def write_atomic(path: Path, text: str) -> None:
    """Temp file, fsync, rename, fsync of the directory: the file is the old one or the new one, even after
    a power cut; the first Ctrl-C waits for the rename (procs.critical); a failed write leaves no temp file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp%d" % os.getpid())
    with procs.critical():
        try:
            with open(tmp, "w", encoding="utf-8") as f:
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
    """Rename path to aside (replacing an older one there); False when there was nothing to move."""
    if not path.exists():
        return False
    aside.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, aside)
    return True


def git_files(root: Path) -> list[Path] | None:
    """Tracked plus untracked-but-not-ignored files below root, as they are in the working tree now; None
    outside a git checkout (or without git)."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "-co", "--exclude-standard"],
                             capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return [Path(root) / name for name in out.stdout.decode("utf-8", "surrogateescape").split("\0") if name]
