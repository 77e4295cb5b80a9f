"""The verdicts between cells, from the readers' answers: which pairs passed, how far what two cells computed
from the same artifact drifts apart, and which writers' series turned NaN or infinite.

Pure data in, data out: the run (cross.py) collects the answers, the views (crossview.py, html.py) show this.
"""
from __future__ import annotations

import itertools
import math
import numbers

DRIFT_AT = 1e-3  # a series "diverges" at the first step whose difference exceeds this


def summarize(written: dict, reads: dict) -> dict:
    """The report's `cross`: per reader test, every (writer, reading cell) pair; drift of what the pairs recorded;
    the writers' series (e.g. loss curves) side by side."""
    ids = list(reads)
    errors = [why for data, why in reads.values() if data is None]
    pairs = []
    for target, (data, _) in reads.items():
        for row in (data or {}).get("rows", []):
            if row["outcome"] == "not run":
                errors.append("%s: reader %s did not run" % (target, row["test"]))
            pairs.append({"reader": row["reader"], "reads": row["reads"], "from": row["from"], "to": target,
                          "outcome": row["outcome"], "error": row["error"], "values": row["values"]})
    readers = []
    for reader in sorted({p["reader"] for p in pairs}):
        mine = [p for p in pairs if p["reader"] == reader]
        readers.append({"reader": reader, "reads": mine[0]["reads"], "pairs": len(mine),
                        "passed": sum(p["outcome"] == "passed" for p in mine),
                        "not_written": sum(p["outcome"] == "skipped" for p in mine)})
    all_curves = curves(written)
    return {"cells": ids, "writers": {cid: sorted(arts) for cid, arts in written.items()}, "errors": errors,
            "readers": readers, "drift": drift(pairs), "pairs": json_safe(pairs), "drift_threshold": DRIFT_AT,
            "series_drift": series_drift(all_curves), "diverged": diverged(all_curves), "curves": json_safe(all_curves)}


def json_safe(value):
    """The value with every NaN and infinity as null: matrix.json is strict JSON, and `diverged` and each drift's
    `non_finite` already say where they were."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return value


def _first_non_finite(values: list) -> int | None:
    """The 1-based step of the first NaN or infinity, or None."""
    return next((i for i, v in enumerate(values, 1) if not math.isfinite(v)), None)


def diverged(all_curves: dict) -> list[dict]:
    """Each writer's series that turned NaN or infinite, and at which step: a finding, never a drift of 0."""
    out = []
    for series, per_cell in sorted(all_curves.items()):
        for cid, values in per_cell.items():
            step = _first_non_finite(values)
            if step is not None:
                out.append({"series": series, "cell": cid, "step": step, "value": repr(values[step - 1])})
    return out


def _numbers(value) -> list | None:
    """The value flattened to floats when it is a number or a (nested) list of them, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return [float(value)]
    if isinstance(value, list):
        out = []
        for v in value:
            flat = _numbers(v)
            if flat is None:
                return None
            out += flat
        return out
    return None


def drift(pairs) -> list[dict]:
    """For each reader and each list it recorded: the same writer's artifact read in two cells, compared (the
    largest absolute difference over the writers both read)."""
    out = []
    for reader in sorted({p["reader"] for p in pairs}):
        mine = [p for p in pairs if p["reader"] == reader and p["outcome"] == "passed"]
        keys = sorted({k for p in mine for k, v in p["values"].items() if isinstance(v, list) and _numbers(v)})
        for key in keys:
            got = {(p["from"], p["to"]): _numbers(p["values"].get(key)) or [] for p in mine}
            targets = sorted({to for _, to in got})
            for a, b in itertools.combinations(targets, 2):
                compared = [w for w in sorted({w for w, _ in got})
                            if got.get((w, a)) and got.get((w, b)) and len(got[w, a]) == len(got[w, b])]
                non_finite = sorted({"%s read in %s" % (w, to) for w in compared for to in (a, b)
                                     if _first_non_finite(got[w, to]) is not None})
                diffs = [max(abs(x - y) for x, y in zip(got[w, a], got[w, b])) for w in compared
                         if _first_non_finite(got[w, a]) is None and _first_non_finite(got[w, b]) is None]
                entry = {"reader": reader, "key": key, "a": a, "b": b, "max_abs_diff": max(diffs) if diffs else None,
                         "writers_compared": len(diffs)}
                if non_finite:  # NaN or infinity recorded: a finding, not a difference of any size
                    entry["non_finite"] = non_finite
                out.append(entry)
    return out


def curves(written: dict) -> dict:
    """{"artifact/series": {cell: values}} from the writers' `series` (e.g. the loss of the run that wrote it)."""
    out: dict = {}
    for cid, arts in written.items():
        for name, meta in arts.items():
            series_of = meta.get("series")
            for series, values in (series_of.items() if isinstance(series_of, dict) else ()):
                flat = _numbers(values)
                if flat:
                    out.setdefault("%s/%s" % (name, series), {})[cid] = flat
    return out


def series_drift(all_curves: dict) -> list[dict]:
    """Per pair of writers: the largest difference over the steps where both are finite, and the first step where
    they differ by more than DRIFT_AT or either is NaN or infinite (then `diverged` names which, from which step)."""
    out = []
    for series, per_cell in sorted(all_curves.items()):
        for a, b in itertools.combinations(list(per_cell), 2):  # in the report's cell order
            pairs = list(zip(per_cell[a], per_cell[b]))
            gaps = [abs(x - y) for x, y in pairs if math.isfinite(x) and math.isfinite(y)]
            over = [i for i, (x, y) in enumerate(pairs, 1)
                    if not (math.isfinite(x) and math.isfinite(y)) or abs(x - y) > DRIFT_AT]
            entry = {"series": series, "a": a, "b": b, "max_abs_diff": max(gaps) if gaps else None,
                     "first_step_over": over[0] if over else None}
            gone = {cid: _first_non_finite(per_cell[cid]) for cid in (a, b)}
            if any(step is not None for step in gone.values()):
                entry["diverged"] = {cid: step for cid, step in gone.items() if step is not None}
            out.append(entry)
    return out
