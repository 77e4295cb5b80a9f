"""Where a generated CI job gets this very tfpin: a requirement that names a source that exists, never a guess.

pip and uv record how a distribution was installed (PEP 610, `direct_url.json`). A VCS install becomes
`git+<url>@<commit>`, pinned to the commit installed here; an install from an index (no
direct_url.json) is `tfpin==<version>` from that index; an archive URL is used as is. A local directory or
file cannot be reached from a runner and is refused, saying to pass --tfpin. Run from a checkout of tfpin's
own repository without being installed (this repository's nox), the runner's own checkout is the source: ".".
"""
from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # the tfpin package this process runs


class NoSource(ValueError):
    """No requirement a CI runner could install this tfpin from; the message says what to pass instead."""


def _installed():
    """This process's tfpin as an installed distribution, or None when it runs from a source tree."""
    try:
        dist = importlib.metadata.distribution("tfpin")
    except importlib.metadata.PackageNotFoundError:
        return None
    installed = Path(str(dist.locate_file("tfpin"))).resolve()
    editable = "editable" in ((json.loads(dist.read_text("direct_url.json") or "{}").get("dir_info")) or {})
    return dist if installed == HERE or editable else None


def requirement(project_root: Path) -> str:
    dist = _installed()
    if dist is None:
        if (Path(project_root).resolve() / "tfpin") == HERE:
            return "."  # the project is tfpin's own checkout: the runner checks it out too
        raise NoSource("this tfpin runs from %s, not from an installed distribution a CI runner could install; pass "
                       "--tfpin <requirement>, e.g. --tfpin 'tfpin @ git+https://github.com/<owner>/tfpin@<commit>'"
                       % HERE.parent)
    text = dist.read_text("direct_url.json")
    if text is None:
        return "tfpin==%s" % dist.version  # from an index: the same index serves it to the runner
    data = json.loads(text)
    url, vcs = data.get("url", ""), data.get("vcs_info")
    if vcs:
        subdirectory = data.get("subdirectory")
        # The bare VCS form: pip (any version) and uv read it; `tfpin @ git+file:///...` is refused by pip < 23.3.
        return "%s+%s@%s%s" % (vcs["vcs"], url, vcs["commit_id"],
                               "#subdirectory=" + subdirectory if subdirectory else "")
    if url.startswith("file:"):
        raise NoSource("this tfpin was installed from %s, a local %s a CI runner cannot reach; pass --tfpin "
                       "<requirement> (a VCS URL pinned to a commit, e.g. 'tfpin @ git+https://github.com/<owner>/"
                       "tfpin@<commit>', or a wheel URL)" % (url, "directory" if "dir_info" in data else "file"))
    return "tfpin @ %s" % url
