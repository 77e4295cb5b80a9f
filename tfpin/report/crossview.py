"""matrix.md's "Between cells" section, and the grid entries matrix.html shares with it."""
from __future__ import annotations

import itertools
import numbers

from tfpin import mdtext


def _diff(value) -> str:
    return "-" if value is None else "%.1e" % value


def shown_value(pair: dict) -> str:
    """A passed pair's grid entry: the first number it recorded (a difference), else ✓."""
    for value in pair["values"].values():
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return _diff(value)
    return "✓"


def grid_entry(pair: dict | None) -> str:
    if pair is None:
        return " "
    if pair["outcome"] == "passed":
        return shown_value(pair)
    return "–" if pair["outcome"] == "skipped" else "✗"


def first_step_text(row: dict, short: dict) -> str:
    """'never', a step, or the step where a writer's series turned NaN or infinite, naming it."""
    if row["first_step_over"] is None:
        return "never"
    gone = row.get("diverged") or {}
    if gone:
        return "%d (%s)" % (row["first_step_over"], ", ".join("%s diverged at step %d" % (short.get(c, c), step)
                                                              for c, step in gone.items()))
    return str(row["first_step_over"])


def markdown(cross: dict) -> list[str]:
    """matrix.md's "Between cells" section (compact tables; every value is in matrix.json's `cross`)."""
    rows = ["", "## Between cells", ""]
    if "skipped" in cross:
        return rows + ["Not checked: %s." % mdtext.text(cross["skipped"])]
    ids = cross["cells"]
    short = {cid: "c%d" % i for i, cid in enumerate(ids, 1)}
    rows += ["Cells: " + ", ".join("%s %s" % (short[c], mdtext.code(c, in_table=False)) for c in ids) + ".", ""]
    for line in cross["errors"]:
        rows.append("- error: %s" % mdtext.text(line))
    rows += ["Every reader test, run in every passed cell on what every cell wrote (row: written in, column: read "
             "in; the number is the first value the pair recorded, ✗ = fails, – = not written there):", ""]
    for reader in cross["readers"]:
        mine = {(p["from"], p["to"]): p for p in cross["pairs"] if p["reader"] == reader["reader"]}
        writers = [c for c in ids if any(w == c for w, _ in mine)]
        rows += ["**%s** (reads %s): %d of %d pairs pass" % (
            mdtext.code(reader["reader"], in_table=False), ", ".join(mdtext.code(n, in_table=False)
                                                                     for n in reader["reads"]) or "-",
            reader["passed"], reader["pairs"] - reader["not_written"]), "",
            "| from \\ to | %s |" % " | ".join(short[c] for c in ids), "|---|%s|" % "|".join("--:" for _ in ids)]
        for a in writers:
            rows.append("| %s | %s |" % (short[a], " | ".join(grid_entry(mine.get((a, b))) for b in ids)))
        failed = sorted({(p["from"], p["to"], p["error"]) for p in mine.values() if p["outcome"] not in
                         ("passed", "skipped")})
        for a, b, error in failed[:6]:
            rows.append("- %s → %s: %s" % (mdtext.text(a), mdtext.text(b), mdtext.text(error)))
        if len(failed) > 6:
            rows.append("- (+%d more in matrix.json)" % (len(failed) - 6))
        rows.append("")
    if cross["drift"]:
        rows += ["**Numeric drift** (what a reader recorded for the same writer's artifact in two cells; worst pair "
                 "per reader and value):", "", "| reader | value | worst | cells |", "|---|---|--:|---|"]
        for (reader, key), grouped in itertools.groupby(cross["drift"], key=lambda d: (d["reader"], d["key"])):
            members = list(grouped)
            non_finite = sorted({x for m in members for x in m.get("non_finite", ())})
            worst = max((m for m in members if m["max_abs_diff"] is not None), key=lambda m: m["max_abs_diff"],
                        default=None)
            shown = _diff(worst and worst["max_abs_diff"])
            if non_finite:
                shown = "NaN/inf: %s" % mdtext.text(", ".join(non_finite))
            rows.append("| %s | %s | %s | %s |" % (mdtext.code(reader), mdtext.text(key), shown,
                                                   "%s, %s" % (short[worst["a"]], short[worst["b"]]) if worst else ""))
        rows.append("")
    for series in sorted({d["series"] for d in cross["series_drift"]}):
        rows += ["**%s across writers** (first step with |Δ| > %g):" % (mdtext.text(series), cross["drift_threshold"]),
                 "", "| cells | max abs difference | first step over |", "|---|--:|--:|"]
        for r in [d for d in cross["series_drift"] if d["series"] == series]:
            rows.append("| %s, %s | %s | %s |" % (short.get(r["a"], r["a"]), short.get(r["b"], r["b"]),
                                                  _diff(r["max_abs_diff"]), first_step_text(r, short)))
        for d in [d for d in cross.get("diverged", []) if d["series"] == series]:
            rows.append("- %s diverged at step %d (%s)" % (short.get(d["cell"], d["cell"]), d["step"],
                                                           mdtext.text(d["value"])))
        rows.append("")
    return rows
