"""A tiny YAML emitter for the CI files tfpin writes (GitHub workflow, GitLab pipeline): no YAML library on
the host, and output a person can review. Block mappings and sequences; scalars plain when that is
unambiguous, else JSON-quoted (a JSON string is a valid YAML double-quoted scalar); multi-line strings
as literal blocks.
"""
from __future__ import annotations

import json
import re

_PLAIN = re.compile(r"[A-Za-z_][\w./()@+=-]*(?:[ :][\w./()@+=-]+)*", re.ASCII)
_RESERVED = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}  # YAML 1.1 booleans and null


def _scalar(value, indent: int) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if _PLAIN.fullmatch(value) and value.lower() not in _RESERVED:
        return value
    body = value[:-1] if value.endswith("\n") else value
    if "\n" in value and body and not body.endswith("\n") and not body.startswith((" ", "\n")):
        pad = "  " * indent
        return ("|" if value.endswith("\n") else "|-") + "".join(
            "\n" + (pad + line if line else "") for line in body.split("\n"))
    return json.dumps(value)


def emit(value, indent: int = 0) -> list[str]:
    """The lines of `value` (dicts keep their order) as block YAML at `indent` levels of two spaces."""
    pad = "  " * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append("%s%s:" % (pad, key))
                lines += emit(item, indent + 1)
            else:
                text = _scalar(item, indent + 1) if not isinstance(item, (dict, list)) else json.dumps(item)
                lines.append(("%s%s: %s" % (pad, key, text)).rstrip())
    else:
        for item in value:
            if isinstance(item, (dict, list)) and item:
                sub = emit(item, indent + 1)
                lines += [pad + "- " + sub[0].lstrip()] + sub[1:]
            else:
                lines.append(("%s- %s" % (pad, _scalar(item, indent + 1))).rstrip())
    return lines
