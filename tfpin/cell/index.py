"""What the package index knows about a project's releases: versions, upload dates, Requires-Python.

Read from the index's JSON simple API (PEP 691), the same pages uv and pip read, so discovery
needs nothing beyond the registry the installers already reach. The index is the one uv uses:
UV_DEFAULT_INDEX / UV_INDEX_URL / PIP_INDEX_URL, else PyPI.
"""
from __future__ import annotations

import datetime
import functools
import json
import os
import urllib.request

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

ACCEPT = "application/vnd.pypi.simple.v1+json"


def index_url() -> str:
    for var in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        if os.environ.get(var):
            return os.environ[var].rstrip("/")
    return "https://pypi.org/simple"


class Release:
    def __init__(self, version: Version):
        self.version = version
        self.uploaded: datetime.datetime | None = None
        self.requires_python: str | None = None
        self.yanked = True  # until a file that is not yanked is seen

    def supports(self, python: str) -> bool:
        if not self.requires_python:
            return True
        try:
            return Version(python + ".99") in SpecifierSet(self.requires_python) or \
                Version(python + ".0") in SpecifierSet(self.requires_python)
        except InvalidSpecifier:
            return True


@functools.lru_cache(maxsize=None)
def releases(name: str) -> dict[Version, Release]:
    """Every release of `name` with at least one file, by version."""
    url = "%s/%s/" % (index_url(), canonicalize_name(name))
    request = urllib.request.Request(url, headers={"Accept": ACCEPT})
    with urllib.request.urlopen(request, timeout=60) as response:
        data = json.load(response)
    out: dict[Version, Release] = {}
    for f in data.get("files", []):
        version = _version_of(f["filename"])
        if version is None:
            continue
        rel = out.setdefault(version, Release(version))
        if not f.get("yanked"):
            rel.yanked = False
        if f.get("requires-python"):
            rel.requires_python = f["requires-python"]
        stamp = f.get("upload-time")
        if stamp:
            when = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            rel.uploaded = when if rel.uploaded is None else min(rel.uploaded, when)
    return out


def _version_of(filename: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (ValueError, InvalidVersion):
        return None


def released(name: str, version: str) -> datetime.datetime | None:
    rel = releases(name).get(Version(version))
    return rel.uploaded if rel else None


def candidates(name: str, python: str, above: str, up_to: str) -> list[str]:
    """Final, non-yanked releases for this Python in (above, up_to], oldest first."""
    low, high = Version(above), Version(up_to)
    return [str(v) for v, rel in sorted(releases(name).items())
            if low < v <= high and not v.is_prerelease and not v.is_devrelease and not rel.yanked
            and rel.supports(python)]
