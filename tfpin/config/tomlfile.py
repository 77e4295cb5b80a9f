"""Reading a TOML file a person wrote, with every way it can be unreadable said as a sentence.

tfpin.toml, pyproject.toml and matrix files all come through here, so a Latin-1 file, a directory where a
file should be or a syntax error is a message naming the file, never a traceback.
"""
from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python < 3.11
    import tomli as tomllib


class Unreadable(ValueError):
    """The file cannot be read as TOML; the message names it and says why."""


def read(path: Path) -> dict:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise Unreadable("%s: cannot be read (%s)" % (path, exc.strerror or exc)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise Unreadable("%s: not UTF-8 (byte 0x%02x on line %d); TOML files are UTF-8: save it as UTF-8"
                         % (path, raw[exc.start], line)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise Unreadable("%s: not valid TOML: %s" % (path, exc)) from None
