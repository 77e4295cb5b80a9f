"""Verdicts between cells: the pipeline step after every cell ran and before the report.

A user moving between versions asks what no single cell answers: do 1.12 checkpoints restore on 1.15,
do the same weights give the same logits, does the same seed give the same loss curve, how much
deprecation work does a release cost.  Each passed cell of a full run writes the project's artifacts
(its `cross.write` command, into reports/artifacts/<cell>/), then every such cell reads every cell's
artifacts in its own environment (`cross.read`, one process per target cell), its optional `census`
lists deprecation notices, and the host compares.  The commands are the project's (key `cross` of its
tfpin config; their output format is below, in summarize); a project that declares none gets a
`skipped` reason.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import shutil
from pathlib import Path

from . import __version__, mdtext, procs, schedule
from .environ import cpus
from .envs import CellEnv
from .files import write_atomic
from .runner import cell_environ, now

DRIFT_AT = 1e-3  # a loss curve "diverges" at the first step whose difference exceeds this
TIMEOUT = 600
MARKER = ".tfpin-artifacts"  # only a directory carrying it is ever deleted
VERDICTS = "verdicts.json"  # beside the artifacts: the last verdicts and the key they were made under


def skip_reason(project, selection) -> str:
    """'' when cross checks can run for this project and run; else why not (said in the report)."""
    if selection is not None:
        return "a filtered run (pytest args): its cells are not evidence for cross-cell verdicts"
    if not project.cross:
        return ("project %s declares no cross-cell checks (key `cross` in its tfpin config: the commands that "
                "write and read artifacts in a cell)" % project.root)
    return ""


def cache_key(passed_results) -> str | None:
    """The verdicts depend on the passed cells (each keyed by tfpin.cache: env, installed set, sources...)
    and on this module's comparisons; None when some cell has no key (its verdict was not sealed)."""
    keys = [(r.id, (r.cache or {}).get("key")) for r in passed_results]
    if not keys or not all(k for _, k in keys):
        return None
    data = json.dumps({"cells": keys, "cross.py": Path(__file__).read_text(), "tfpin": __version__})
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def cached(root: Path, key: str | None) -> dict | None:
    """The stored verdicts of the same cells and code, while the artifacts they came from are on disk."""
    try:
        stored = json.loads((root / VERDICTS).read_text())
    except (OSError, ValueError):
        return None
    verdicts = stored.get("verdicts") if stored.get("key") == key and key else None
    if not isinstance(verdicts, dict) or not all((root / cid).is_dir() for cid in verdicts.get("cells", [])):
        return None
    return dict(verdicts, cached_from={"finished": stored.get("finished"), "key": key})


def stored(cells, results, ctx) -> dict | None:
    """The verdicts of the last cross step over exactly these passed results, if still on disk (a report
    rebuilt from stored results keeps them; nothing is run)."""
    by_id = {c.id: c for c in cells}
    return cached(ctx.layout.artifacts, cache_key([r for r in results if r.status == "passed" and r.id in by_id]))


def run(cells, results, ctx, log=print, use_cache: bool = True) -> dict:
    """Write artifacts in every passed cell, read them in every such cell, return the report's `cross`."""
    reason = skip_reason(ctx.project, ctx.selection)
    root = ctx.layout.artifacts
    by_id = {c.id: c for c in cells}
    passed_results = [r for r in results if r.status == "passed" and r.id in by_id]
    key = cache_key(passed_results) if not reason else None
    if use_cache and key:
        hit = cached(root, key)
        if hit is not None:
            log("cross: nothing changed since %s: verdicts re-used (--no-cache runs them)" % hit["cached_from"]
                ["finished"])
            return hit
    if reason:
        return {"skipped": reason}
    passed = [by_id[r.id] for r in passed_results]
    if len(passed) < 1:
        return {"skipped": "no cell passed"}
    if root.exists() and not ((root / MARKER).is_file() or (root / VERDICTS).is_file()):  # verdicts: before markers
        return {"skipped": "%s exists and is not tfpin's (no %s in it): it is left alone; move it, or pass --reports "
                           "with a directory of tfpin's own" % (root, MARKER)}
    # Only now, with the checks about to run: artifacts of an earlier run never meet this run's.
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / MARKER).write_text("artifacts of tfpin's cross-cell step; deleted when the next one runs\n")
    verdicts = _run(passed, by_id, ctx, root, log)
    if key and not verdicts.get("errors"):
        write_atomic(root / VERDICTS, json.dumps({"key": key, "finished": now(), "verdicts": verdicts}, indent=2))
    return verdicts


def _run(passed, by_id, ctx, root: Path, log) -> dict:
    written, failures = {}, {}
    for cell, (ok, detail) in zip(passed, schedule.map_ordered(lambda c: _write(c, ctx, root / c.id), passed,
                                                               cpus())):
        (written if ok else failures)[cell.id] = detail
        log("cross: %s artifacts %s" % (cell.id, "written" if ok else "not written: " + detail))
    sources = [str(root / cid) for cid in written]
    reads = dict(zip(written, schedule.map_ordered(lambda cid: _read(by_id[cid], ctx, sources), list(written),
                                                   cpus())))
    census = {}
    if ctx.project.cross.get("census"):
        census = dict(zip([c.id for c in passed], schedule.map_ordered(lambda c: _census(c, ctx), passed, cpus())))
    return summarize(written, reads, census, failures)


def _run_json(cell, ctx, args, what):
    """(data, '') from the module's last JSON line, or (None, the reason naming the cell)."""
    python = CellEnv(cell, ctx.envs, ctx.project.root).python  # the env the cell's tests just ran in
    code, out = procs.run([str(python), *args], cwd=ctx.project.root, env=cell_environ(cell, ctx),
                          timeout=TIMEOUT)
    data = procs.last_json(out)
    if code == 0 and data is not None:
        return data, ""
    return None, "%s: %s exited %s: %s" % (cell.id, what, code, procs.tail(out) or "no output")


def _write(cell, ctx, out: Path):
    data, reason = _run_json(cell, ctx, [*ctx.project.cross["write"], str(out)], "writing artifacts")
    if data is None:
        shutil.rmtree(out, ignore_errors=True)
        return False, reason
    return True, json.loads((out / "manifest.json").read_text())


def _read(cell, ctx, sources):
    return _run_json(cell, ctx, [*ctx.project.cross["read"], *sources], "reading artifacts")


def _census(cell, ctx):
    return _run_json(cell, ctx, ctx.project.cross["census"], "the census")


def _max_abs(a, b) -> float:
    return max(abs(x - y) for row_a, row_b in zip(a, b) for x, y in zip(row_a, row_b))


def summarize(written: dict, reads: dict, census: dict, failures: dict) -> dict:
    """The report's `cross` from the manifests (written), each target's read (reads) and census."""
    ids = list(written)
    checkpoints, h5, logits_in = [], [], {}
    for target in ids:
        data, reason = reads[target]
        for source in ids:
            entry = (data or {}).get(source)
            if entry is None:
                checkpoints.append({"from": source, "to": target, "restored": False, "max_abs_logit_diff": None,
                                    "reason": reason or "%s: no result for %s" % (target, source)})
                continue
            ckpt = entry["checkpoint"]
            checkpoints.append({"from": source, "to": target, "restored": ckpt["restored"],
                                "max_abs_logit_diff": ckpt.get("max_abs_logit_diff"), "reason": ckpt.get("reason")})
            if ckpt["restored"]:
                logits_in.setdefault(source, {})[target] = ckpt["logits"]
            for row in entry["h5"]:
                h5.append({"from": source, "to": target, "written_by": row["written_by"],
                           "loaded_by": row["loaded_by"], "loaded": row["loaded"],
                           "max_abs_logit_diff": row.get("max_abs_logit_diff"), "reason": row.get("reason")})
    logits = []
    for a, b in itertools.combinations(ids, 2):
        diffs = [_max_abs(per[a], per[b]) for per in logits_in.values() if a in per and b in per]
        logits.append({"a": a, "b": b, "max_abs_logit_diff": max(diffs) if diffs else None,
                       "weights_compared": len(diffs)})
    losses = []
    for a, b in itertools.combinations(ids, 2):
        la, lb = written[a]["losses"], written[b]["losses"]
        gaps = [abs(x - y) for x, y in zip(la, lb)]
        over = [i for i, gap in enumerate(gaps, 1) if gap > DRIFT_AT]
        losses.append({"a": a, "b": b, "max_abs_diff": max(gaps) if gaps else None,
                       "first_step_over": over[0] if over else None})
    deprecations = {}
    for cid, (data, reason) in census.items():
        deprecations[cid] = ({"count": len(data["notices"]), "notices": data["notices"], "breaks": data.get("breaks")}
                             if data is not None else {"count": None, "reason": reason})
    # Our own step failing (a writer, reader or census that crashed) is an error of the run; a checkpoint
    # that does not restore is a finding about the versions, not an error.
    errors = list(failures.values()) + [reason for data, reason in reads.values() if data is None] + [
        reason for data, reason in census.values() if data is None]
    return {"cells": ids, "errors": errors, "not_written": failures, "drift_threshold": DRIFT_AT,
            "curves": {cid: written[cid]["losses"] for cid in ids},
            "checkpoints": checkpoints, "h5": h5, "logits": logits, "losses": losses, "deprecations": deprecations}


def _diff(value) -> str:
    return "-" if value is None else "%.1e" % value


def markdown(cross: dict) -> list[str]:
    """matrix.md's "Between cells" section (compact tables; every number is in matrix.json's `cross`)."""
    rows = ["", "## Between cells", ""]
    if "skipped" in cross:
        return rows + ["Not checked: %s." % mdtext.text(cross["skipped"])]
    ids = cross["cells"]
    short = {cid: "c%d" % i for i, cid in enumerate(ids, 1)}
    rows += ["Cells: " + ", ".join("%s %s" % (short[c], mdtext.code(c, in_table=False)) for c in ids) + ".", ""]
    for cid, reason in cross["not_written"].items():
        rows.append("- %s wrote no artifacts: %s" % (mdtext.code(cid, in_table=False), mdtext.text(reason)))
    pairs = {(r["from"], r["to"]): r for r in cross["checkpoints"]}
    rows += ["**Checkpoints** (row: written in, column: restored in; max |logit difference| against the "
             "writer's own logits, ✗ = does not restore):", "",
             "| from \\ to | %s |" % " | ".join(short[c] for c in ids), "|---|%s|" % "|".join("--:" for _ in ids)]
    for a in ids:
        cells = [(_diff(pairs[a, b]["max_abs_logit_diff"]) if pairs[a, b]["restored"] else "✗") for b in ids]
        rows.append("| %s | %s |" % (short[a], " | ".join(cells)))
    failed = [r for r in cross["checkpoints"] if not r["restored"]]
    for r in failed:
        rows.append("- %s → %s: %s" % (mdtext.text(r["from"]), mdtext.text(r["to"]), mdtext.text(r["reason"])))
    rows += ["", "**Keras h5** (every cell's h5 loaded in every cell, by flavour):", "",
             "| written by | loaded by | loaded | worst logit diff | why not (first seen) |", "|---|---|--:|--:|---|"]
    groups = {}
    for r in cross["h5"]:
        groups.setdefault((r["written_by"], r["loaded_by"]), []).append(r)
    for (written, loaded), members in sorted(groups.items()):
        ok = [m for m in members if m["loaded"]]
        worst = max((m["max_abs_logit_diff"] for m in ok), default=None)
        reasons = sorted({"%s → %s: %s" % (m["from"], m["to"], m["reason"]) for m in members if not m["loaded"]})
        rows.append("| %s | %s | %d/%d | %s | %s |" % (mdtext.text(written), mdtext.text(loaded), len(ok),
                                                       len(members), _diff(worst),
                                                       mdtext.text(reasons[0]) if reasons else ""))
    worst = max((r for r in cross["logits"] if r["max_abs_logit_diff"] is not None),
                key=lambda r: r["max_abs_logit_diff"], default=None)
    rows += ["", "**Numeric drift** (the same weights' logits in two cells): worst %s%s." % (
        _diff(worst and worst["max_abs_logit_diff"]),
        " (%s vs %s)" % (mdtext.text(worst["a"]), mdtext.text(worst["b"])) if worst else "")]
    rows += ["", "**Training drift** (same seed, one thread, 50 steps; first step with |Δloss| > %g):" %
             cross["drift_threshold"], "", "| cells | max abs loss difference | first step over |", "|---|--:|--:|"]
    for r in cross["losses"]:
        rows.append("| %s, %s | %s | %s |" % (short[r["a"]], short[r["b"]], _diff(r["max_abs_diff"]),
                                              r["first_step_over"] or "never"))
    if not cross["deprecations"]:
        return rows
    rows += ["", "**Migration burden** (distinct deprecation notices the project's census reports per cell):", "",
             "| cell | notices |", "|---|--:|"]
    for cid, d in cross["deprecations"].items():
        rows.append("| %s | %s |" % (mdtext.code(cid), mdtext.text(burden_text(d))))
    return rows


def burden_text(d: dict) -> str:
    """One cell's census: its notice count, or that the code does not run there (and why)."""
    if d["count"] is None:
        return "? " + d.get("reason", "")
    if d.get("breaks"):
        return "does not run: %s (%d notices before it stopped)" % (d["breaks"], d["count"])
    return str(d["count"])
