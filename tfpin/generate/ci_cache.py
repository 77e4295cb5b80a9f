"""The uv cache of a generated cell job: where it lives and what keys it, for `tfpin ci github|gitlab`.

Every cell job builds its environment from nothing on a fresh runner; uv's cache (wheels, built sdists, the git
checkout and build of tfpin itself) is what can carry over. It is keyed per cell by the cell's stamp, the digest
its stored results carry (`cell/runner.stamp`: its definition plus the project's install lines and the files
they name), so a cell whose definition changes starts a new cache entry. The stamp is computed when the file is
generated; the files a definition is read from (the config, a matrix file in the repository, on GitHub also the
requirement files the install lines name) are hashed into the key by the CI system itself, so editing them moves
the key even before the file is generated again. A key that is stale costs only cache hits, never a verdict:
uv's cache holds content by its own hashes, and every install checks it.

The cache sits in the project's `.tfpin/uv-cache`: inside the checkout (GitLab caches nothing outside it), on the
same file system as the environments in `.tfpin/envs` (uv links rather than copies), and under `.tfpin/`, which
tfpin never counts as the project's sources.
"""
from __future__ import annotations

import os
from pathlib import Path

from tfpin.cell.runner import stamp
from tfpin.config import matrix as matrices

UV_CACHE = ".tfpin/uv-cache"  # relative to the project root
KEY_PREFIX = "tfpin-uv-"


def cell_key(project, cell) -> str:
    """The part of a cell's cache key fixed when the file is generated: the cell and its stamp."""
    return "%s%s-%s" % (KEY_PREFIX, cell.id, stamp(cell, project.install_digest()))


def definition_files(project, matrix, top: Path) -> list[str]:
    """The files a cell's definition is read from that live in the repository, relative to its root: the
    project's config, the matrix file (not a built-in one: tfpin's version decides it, and the CI file pins that),
    then the requirement files the install lines name."""
    candidates = [Path(project.source)]
    if Path(matrix.path).resolve().parent != matrices.MATRICES_DIR.resolve():
        candidates.append(Path(matrix.path))
    candidates += project.install_files()
    out = []
    for path in candidates:
        path = path.resolve()
        if (path == top or top in path.parents) and path.is_file():
            relative = Path(os.path.relpath(path, top)).as_posix()
            if relative not in out:
                out.append(relative)
    return out
