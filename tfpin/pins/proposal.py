"""What a pin discovery proposes, and applying it: the `[[constraints]]` entries with the narrowest `when` the
measured cells support, the summary people review, and the text-level merge into a matrix or project file."""
from __future__ import annotations

import json
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

from tfpin import mdtext
from tfpin.files import write_atomic


def constraint_blocks(results: list, all_cells) -> list[dict]:
    """Discovered pins as [[constraints]] entries; `when` names the cells each applies to.

    A pin every searched cell needs gets no `when`; one that exactly the cells sharing a Python, or a
    contiguous run of one package's releases, need gets that one condition (`python = "==3.7"`,
    `tensorflow = "<1.15.5"`); otherwise one entry per group of cells differing only in Python, or per cell.
    """
    by_pin: dict[str, list[dict]] = {}
    for res in results:
        for pin in res["pins"]:
            by_pin.setdefault(pin["pin"], []).append({**pin, "cell": res["cell"], "python": res["python"],
                                                     "requirements": res["requirements"]})
    discovered = [r for r in results if not r["problem"] and not r.get("unavailable")]
    entries = []
    for pin, hits in sorted(by_pin.items()):
        cells = {h["cell"] for h in hits}
        reason = hits[0]["reason"]
        if cells >= {r["cell"] for r in discovered}:
            entries.append({"pin": pin, "reason": reason, "origin": "discovered", "cells": sorted(cells)})
            continue
        when = _one_condition(cells, discovered)
        if when:
            entries.append({"pin": pin, "reason": reason, "origin": "discovered", "when": when,
                            "cells": sorted(cells)})
            continue
        # Cells differing only in Python share their requirements: one entry when every such cell needs it.
        groups: dict[tuple, list[dict]] = {}
        for h in hits:
            groups.setdefault(tuple(sorted(h["requirements"].items())), []).append(h)
        for reqs, members in groups.items():
            siblings = [r for r in discovered if tuple(sorted(r["requirements"].items())) == reqs]
            when = {k: "==" + v for k, v in reqs}
            if len(members) < len(siblings):
                for h in members:
                    entries.append({"pin": pin, "reason": h["reason"], "origin": "discovered",
                                    "when": {"python": "==" + h["python"], **when}, "cells": [h["cell"]]})
            else:
                entries.append({"pin": pin, "reason": members[0]["reason"], "origin": "discovered", "when": when,
                                "cells": sorted(h["cell"] for h in members)})
    return entries


def _one_condition(cells: set, discovered: list[dict]) -> dict | None:
    """One `when` key whose condition selects exactly `cells` among the searched ones, or None.

    Values are the releases the searched cells have (python, or a pinned package); the condition is
    `==v` for one value, `<first value not needing it` for the oldest run, `>=first value needing it`
    for the newest run: never wider than what was measured.
    """
    facts = [(r["cell"], dict(r["requirements"], python=r["python"])) for r in discovered]
    keys = sorted({k for _, f in facts for k in f})
    for key in ["python"] + [k for k in keys if k != "python"]:
        if not all(key in f for _, f in facts):
            continue
        needing = {f[key] for c, f in facts if c in cells}
        if any(f[key] in needing for c, f in facts if c not in cells):
            continue  # some cell with one of these values does not need it: this key cannot tell them apart
        values = sorted({f[key] for _, f in facts}, key=Version)
        picked = [v for v in values if v in needing]
        if len(picked) == 1:
            return {key: "==" + picked[0]}
        if values[:len(picked)] == picked:
            return {key: "<" + values[len(picked)]}
        if values[-len(picked):] == picked:
            return {key: ">=" + picked[0]}
    return None


def toml_blocks(entries: list[dict]) -> str:
    out = []
    for e in entries:
        out.append("[[constraints]]")
        out.append("pin = %s" % json.dumps(e["pin"]))
        out.append("reason = %s" % json.dumps(e["reason"]))
        if e.get("when"):
            out.append("when = { %s }" % ", ".join("%s = %s" % (k, json.dumps(v)) for k, v in e["when"].items()))
        out.append('origin = "discovered"  # cells: %s' % ", ".join(e["cells"]))
        out.append("")
    return "\n".join(out)


def apply(path: Path, entries: list[dict], header: str = "[[constraints]]") -> list[str]:
    """Merge discovered entries into a matrix or project file: a package's earlier pins are replaced.

    Returns the replaced pins. Text-level, so every other line and comment of the file stays as written.
    """
    from packaging.requirements import Requirement

    packages = {canonicalize_name(Requirement(e["pin"]).name) for e in entries}
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    kept: list[str] = []
    replaced: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == header:
            j = i + 1
            while j < len(lines) and not lines[j].lstrip().startswith("["):
                j += 1
            block = lines[i:j]
            pin = next((ln.split("=", 1)[1].strip().strip('"') for ln in block if ln.strip().startswith("pin")), "")
            if pin and canonicalize_name(Requirement(pin).name) in packages:
                replaced.append(pin)
                while kept and kept[-1].startswith("#"):  # its comment goes with it
                    kept.pop()
                i = j
                continue
        kept.append(lines[i])
        i += 1
    text = "\n".join(kept).rstrip("\n") + "\n\n"
    blocks = toml_blocks(entries)
    if header != "[[constraints]]":
        blocks = blocks.replace("[[constraints]]", header)
    write_atomic(Path(path), text + blocks)
    return replaced


def summary_markdown(results: list[dict], entries: list[dict]) -> str:
    """summary.md of a discovery. Problems quote installers and tests, so they and the ids go through mdtext;
    the TOML block holds one JSON-quoted string per line (no line of it can close the fence)."""
    rows = ["# Discovered pins", "", "| cell | era | pins | env builds | seconds | problem |",
            "|---|---|---|--:|--:|---|"]
    for r in results:
        pins = ", ".join(mdtext.code(p["pin"]) for p in r["pins"]) or ("-" if r.get("unavailable") else "none")
        problem = r["problem"] or ("unavailable: " + r["unavailable"] if r.get("unavailable") else "")
        rows.append("| %s | %s | %s | %d | %.0f | %s |" % (mdtext.code(r["cell"]), mdtext.text(r.get("era") or ""),
                                                           pins, r["env_builds"], r["seconds"], mdtext.text(problem)))
    rows += ["", "Proposed `[[constraints]]`:", "", "```toml", toml_blocks(entries).rstrip(), "```", ""]
    return "\n".join(rows)
