"""What the package index knows about a project's releases: versions, upload dates, Requires-Python.

Read from the index's JSON simple API (PEP 691), the same pages uv and pip read, so discovery
needs nothing beyond the registry the installers already reach. The index is the one uv uses:
UV_DEFAULT_INDEX / UV_INDEX_URL / PIP_INDEX_URL, else PyPI (none with UV_NO_INDEX). The local directories uv's
UV_FIND_LINKS names are read too (file names, a wheel's Requires-Python, the file's time as its upload), so a
search's candidates are the releases the installer itself can pick: a release only in such a directory, or a
project the index does not know (its 404), is still seen.
"""
from __future__ import annotations

import datetime
import functools
import json
import os
import urllib.error
import urllib.request
import zipfile
from email.parser import HeaderParser
from pathlib import Path

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


def find_links() -> list[Path]:
    """The local directories of UV_FIND_LINKS (comma-separated paths or file:// URLs, as uv reads it); a remote
    location is uv's alone."""
    out = []
    for item in os.environ.get("UV_FIND_LINKS", "").split(","):
        item = item.strip()
        path = Path(item[len("file://"):] if item.startswith("file://") else item)
        if item and "://" not in str(path) and path.is_dir():
            out.append(path)
    return out


@functools.lru_cache(maxsize=None)
def releases(name: str) -> dict[Version, Release]:
    """Every release of `name` with at least one file, by version: the index's and the find-links directories'.
    The index's 404 is an error only when no find-links directory has the project either."""
    local = _local_files(name)
    try:
        files = [] if os.environ.get("UV_NO_INDEX") else _index_files(name)
    except urllib.error.HTTPError as exc:
        if exc.code != 404 or not local:
            raise
        files = []
    return _releases(files + local)


def _index_files(name: str) -> list[dict]:
    url = "%s/%s/" % (index_url(), canonicalize_name(name))
    request = urllib.request.Request(url, headers={"Accept": ACCEPT})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response).get("files", [])


def _local_files(name: str) -> list[dict]:
    """The find-links directories' files of `name`, spelled as the JSON simple API spells an index's."""
    out = []
    for directory in find_links():
        for path in sorted(directory.iterdir()):
            try:
                project = (parse_wheel_filename(path.name)[0] if path.name.endswith(".whl")
                           else parse_sdist_filename(path.name)[0])
            except (ValueError, InvalidVersion):
                continue
            if project != canonicalize_name(name):
                continue
            when = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc).isoformat()
            out.append({"filename": path.name, "upload-time": when, "requires-python": _requires_python(path)})
    return out


def _requires_python(wheel: Path) -> str | None:
    """A wheel's Requires-Python (its METADATA), None for an sdist or an unreadable file."""
    try:
        with zipfile.ZipFile(wheel) as whl:
            meta = next((n for n in whl.namelist() if n.endswith(".dist-info/METADATA")), None)
            text = whl.read(meta).decode("utf-8", "replace") if meta else ""
    except (OSError, zipfile.BadZipFile):
        return None
    return HeaderParser().parsestr(text).get("Requires-Python")


def _releases(files: list[dict]) -> dict[Version, Release]:
    out: dict[Version, Release] = {}
    for f in files:
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
