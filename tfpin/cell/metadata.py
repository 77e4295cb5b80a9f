"""The project's own distribution as the installer built it into a cell: its name, extras and requirements.

Read from the metadata the build backend wrote (`cellplugin/tfpin_needs.py`, in the cell's Python), never by
parsing setup.py or pyproject.toml: `tfpin init` reads the test extra from it, and `--floors` the ranges a packaged
project declares (`numpy>=1.9.1` in its setup.py is as much a promise as an install line).
"""
from __future__ import annotations

import re
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement

from tfpin import procs
from tfpin.cell.envs import PLUGIN_DIR

# The install lines that put the project's own tree into a cell, and the extras they ask for (".[tests]").
OWN_TREE = re.compile(r"^(?:-e\s+)?\.(?:\[([^\]]*)\])?$")


class Metadata:
    """The project's distribution as installed in a cell."""

    def __init__(self, name: str = "", extras=(), requires=()):
        self.name, self.extras, self.requires = name, list(extras), list(requires)

    def requirements(self, python: str, extras) -> list[Requirement]:
        """Its Requires-Dist that apply on this Python with these extras requested (markers evaluated)."""
        base: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
        base.update(python_version=python, python_full_version=python + ".0")
        out = []
        for line in self.requires:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is None or any(req.marker.evaluate({**base, "extra": e}) for e in ("", *extras)):
                out.append(req)
        return out


def installed(python, root: Path, environ: dict) -> Metadata | None:
    """The metadata of the distribution installed from `root` into the cell of `python`; None if none was."""
    code, out = procs.run([python, PLUGIN_DIR / "tfpin_needs.py", root], env=environ, timeout=120)
    data = procs.last_json(out or "")
    projects = (data or {}).get("projects") or []
    if code != 0 or not projects:
        return None
    first = projects[0]
    return Metadata(first.get("name", ""), first.get("extras", []), first.get("requires", []))


def requested_extras(install_lines) -> list[str] | None:
    """The extras the install lines ask of the project's own tree; None when no line installs that tree."""
    found = None
    for line in install_lines:
        m = OWN_TREE.match(line.strip())
        if m:
            found = (found or []) + [e.strip() for e in (m.group(1) or "").split(",") if e.strip()]
    return found
