"""Verdicts between cells: the pipeline step after every cell ran and before the report.

A user moving between versions asks what no single cell answers: does a checkpoint written on 1.12
restore on 1.15, do the same weights give the same logits there, does the same seed give the same
loss curve. The project says it in its own tests, through the in-cell plugin's API
(cellplugin/tfpin_cross.py): a test writes a named artifact with `tfpin_artifact` while its cell's
suite runs (kept as that cell's evidence, reports/artifacts/<cell>/<name>/), and a test marked
`tfpin_reads(name)` reads it with `tfpin_source`. Here, after the cells ran, the readers run in every
passed cell, parametrised over every passed cell that wrote artifacts, one pytest per reading cell
under the one scheduler; each (writer, reader) pair is its own test. A pair that fails is a finding
about the versions; a reader run that crashes, or collects nothing it was asked to, is an error.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import sys
from pathlib import Path

from tfpin import __version__, environ, load, procs, schedule
from tfpin.cell.envs import PLUGIN_DIR, CellEnv, EnvLock
from tfpin.cell.incell import cell_environ, pytest_command
from tfpin.cell.status import PASSED
from tfpin.cellplugin import tfpin_vars as var
from tfpin.config.context import now
from tfpin.cross import verdicts as crossverdicts
from tfpin.cross.verdicts import summarize
from tfpin.events import Say
from tfpin.files import read_json, short_digest, write_atomic

META = "tfpin-meta.json"  # written by tfpin_artifact beside each artifact (cellplugin/tfpin_cross.py)
VERDICTS = "verdicts.json"  # the last verdicts and the key they were made under
NO_TESTS = 5  # pytest: nothing collected (the project has no readers)


def skip_reason(selection) -> str:
    """'' when the cross step can run after these cells; else why not (said in the report)."""
    if selection is not None:
        return "a filtered run (pytest args): its cells are not evidence for cross-cell verdicts"
    return ""


def written_by(cells_passed, ctx) -> dict:
    """{cell: {artifact: the values its writer kept}} of the passed cells that wrote artifacts in their suite."""
    out = {}
    for cell in cells_passed:
        base = ctx.layout.artifacts / cell.id
        names = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
        if names:
            out[cell.id] = {name: read_json(base / name / META) or {} for name in names}
    return out


def cache_key(passed_results) -> str | None:
    """The verdicts depend on the passed cells (each keyed by tfpin.cache: env, installed set, sources...)
    and on the reading code here and in the plugin; None when some cell has no key (its verdict was not sealed)."""
    keys = [(r.id, (r.cache or {}).get("key")) for r in passed_results]
    if not keys or not all(k for _, k in keys):
        return None
    code = [Path(str(module.__file__)).read_text() for module in (sys.modules[__name__], crossverdicts)]
    code.append((PLUGIN_DIR / "tfpin_cross.py").read_text())
    return short_digest({"cells": keys, "code": code, "tfpin": __version__})


def cached(root: Path, key: str | None) -> dict | None:
    """The stored verdicts of the same cells and code."""
    try:
        stored = json.loads((root / VERDICTS).read_text())
    except (OSError, ValueError):
        return None
    verdicts = stored.get("verdicts") if isinstance(stored, dict) and stored.get("key") == key and key else None
    if not isinstance(verdicts, dict) or not _well_formed(verdicts):
        return None
    return dict(verdicts, cached_from={"finished": stored.get("finished"), "key": key})


SHAPE: dict[str, type | tuple[type, ...]] = {
    "cells": list, "writers": dict, "errors": list, "readers": list, "pairs": list, "drift": list,
         "drift_threshold": (int, float), "curves": dict, "series_drift": list}


def _well_formed(verdicts) -> bool:
    """Stored verdicts with every part the report reads, of its type; others are run again, never trusted."""
    return isinstance(verdicts, dict) and all(isinstance(verdicts.get(k), t) for k, t in SHAPE.items()) and all(
        isinstance(item, dict) for k in ("readers", "pairs", "drift", "series_drift") for item in verdicts[k])


def _passed(cells, results):
    by_id = {c.id: c for c in cells}
    return [r for r in results if r.status == PASSED and r.id in by_id], by_id


def stored(cells, results, ctx) -> dict | None:
    """The verdicts of the last cross step over exactly these passed results (a report rebuilt from stored
    results keeps them; nothing is run)."""
    passed_results, _ = _passed(cells, results)
    key = cache_key(passed_results)
    return cached(step_dir(ctx, key), key)


def not_run(cells, results, ctx) -> dict | None:
    """For a report joined from stored results with no verdicts made over exactly them (the CI shape: each cell a
    job of its own): say that the readers did not run, where there were artifacts to read, so a report without
    the checks between cells never looks like one where they passed."""
    passed_results, by_id = _passed(cells, results)
    if not written_by([by_id[r.id] for r in passed_results], ctx):
        return None
    return {"skipped": "the readers between cells did not run over these results (each cell ran on its own, as "
                       "in a pipeline from `tfpin ci`); `tfpin matrix` runs them after the cells"}


def run(cells, results, ctx, log: Say = lambda line: None, *, use_cache: bool = True, jobs: int = 1) -> dict:
    """Run the readers in every passed cell against every passed cell's artifacts, `jobs` cells at a time; the
    report's `cross`."""
    reason = skip_reason(ctx.selection)
    if reason:
        return {"skipped": reason}
    passed_results, by_id = _passed(cells, results)
    passed = [by_id[r.id] for r in passed_results]
    if not passed:
        return {"skipped": "no cell passed"}
    written = written_by(passed, ctx)
    if not written:
        return {"skipped": "no test of the project wrote an artifact (the tfpin_artifact fixture) in a passed cell"}
    key = cache_key(passed_results)
    if use_cache and key:
        hit = cached(step_dir(ctx, key), key)
        if hit is not None:
            log("cross: nothing changed since %s: verdicts re-used (--no-cache runs them)"
                % hit["cached_from"]["finished"])
            return hit
    root = step_dir(ctx, key)
    with contextlib.ExitStack() as held:
        # The passed cells' envs and evidence stay as read while the readers run: a concurrent run of one of these
        # cells (which would set its artifacts aside and rebuild its env) waits, as for any cell it shares.
        for cell in passed:
            held.enter_context(EnvLock(ctx.layout.env(cell.id), lambda text: log("cross: " + text)))
        if root.exists():  # only tfpin's: the plans, records and JUnit of the last cross step with this key
            shutil.rmtree(root)
        root.mkdir(parents=True)
        _prune(ctx.layout.cross, keep=root)
        written = written_by(passed, ctx)  # again, under the locks: what the readers will get
        metered = dict(zip([c.id for c in passed], schedule.map_ordered(
            lambda c: _metered(c, ctx, root, list(written)), passed, jobs)))
    return _verdicts(written, metered, key, root, log)


def _verdicts(written: dict, metered: dict, key: str | None, root: Path, log) -> dict:
    """The verdicts from every reading cell's (read, CPU seconds), stored for re-use when none is an error."""
    reads = {cid: read for cid, (read, _) in metered.items()}
    if all(data is None and why == NO_TESTS for data, why in reads.values()):
        return {"skipped": "the project's tests write artifacts but none reads them (a test marked "
                           "@pytest.mark.tfpin_reads(name) with the tfpin_source fixture)"}
    reads = {cid: (data, "%s: the readers collected nothing" % cid if why == NO_TESTS else why)
             for cid, (data, why) in reads.items()}
    verdicts = summarize(written, reads)
    verdicts["readers_cpu_s"] = {cid: cpu_s for cid, (_, cpu_s) in metered.items()}
    for line in verdicts["errors"]:
        log("cross: " + line)
    if key and not verdicts["errors"]:
        write_atomic(root / VERDICTS, json.dumps({"key": key, "finished": now(), "verdicts": verdicts}, indent=2))
    return verdicts


# -- the same step as CI jobs: one job per reading cell, then the report job joins their records ----------------

READ = ".read.json"  # one reading cell's answer: what _read returned and its CPU seconds


def read_one(cell, cells, results, ctx, log: Say = lambda line: None) -> str:
    """The readers of `cell` over the stored results of `cells` (those of the pipeline), as one CI job does after
    every cell job finished: its record goes to the step directory for `tfpin report` to join. '' or the error."""
    passed_results, by_id = _passed(cells, results)
    passed = [by_id[r.id] for r in passed_results]
    if cell.id not in {c.id for c in passed}:
        log("cross: %s did not pass here: it reads nothing (its verdict is its own)" % cell.id)
        return ""
    written = written_by(passed, ctx)
    if not written:
        log("cross: no passed cell wrote an artifact: nothing to read")
        return ""
    key = cache_key(passed_results)
    root = step_dir(ctx, key)
    root.mkdir(parents=True, exist_ok=True)
    with EnvLock(ctx.layout.env(cell.id), lambda text: log("cross: " + text)):
        (data, why), cpu_s = _metered(cell, ctx, root, list(written))
    write_atomic(root / (cell.id + READ), json.dumps({"cell": cell.id, "data": data, "why": why, "cpu_s": cpu_s}))
    return "" if why in ("", NO_TESTS) else why


def from_reads(cells, results, ctx) -> dict | None:
    """The verdicts from the reading cells' records (read_one, one CI job each), or None when no job left one. A
    passed cell whose job left no record is an error naming it: the checks between cells were not all made."""
    passed_results, by_id = _passed(cells, results)
    passed = [by_id[r.id] for r in passed_results]
    written = written_by(passed, ctx)
    key = cache_key(passed_results)
    root = step_dir(ctx, key)
    if not written or not any((root / (c.id + READ)).is_file() for c in passed):
        return None
    metered: dict = {}
    for cell in passed:
        try:
            record = json.loads((root / (cell.id + READ)).read_text())
            ok = isinstance(record.get("why"), (str, int)) and isinstance(record.get("data"), (dict, type(None)))
            read = (record["data"], record["why"]) if ok else None
            metered[cell.id] = (read, float(record.get("cpu_s") or 0.0))
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            metered[cell.id] = None
        if metered[cell.id] is None or metered[cell.id][0] is None:
            metered[cell.id] = ((None, "%s: its readers' job left no readable record in %s (did it run?)" % (
                cell.id, root / (cell.id + READ))), 0.0)
    return _verdicts(written, metered, key, root, lambda line: None)


def step_dir(ctx, key: str | None) -> Path:
    """The cross step's files for one set of passed cells (its cache key): a subset run or a run of other cells
    has its own, so it never removes the verdicts of the full matrix."""
    return ctx.layout.cross / (key or "unkeyed")


def _prune(base: Path, keep: Path, newest: int = 4) -> None:
    """Keep the `newest` step directories (the one in use among them); older ones are no run's evidence now."""
    steps = sorted((p for p in base.iterdir() if p.is_dir() and p != keep), key=lambda p: p.stat().st_mtime,
                   reverse=True)
    for old in steps[newest - 1:]:
        shutil.rmtree(old, ignore_errors=True)


def _metered(cell, ctx, root: Path, writers: list):
    """(_read's answer, the CPU seconds of the reading pytest): the readers' part of what a run costs, which
    the benchmark's physical floor counts beside each cell's suite."""
    with load.Meter() as meter:
        read = _read(cell, ctx, root, writers)
    return read, round(meter.cpu_now(), 2)


def _copies(cell, ctx, root: Path, writers: list) -> list[dict]:
    """What the reading cell reads: its own copy of every writer's artifacts, so nothing a reader does can change a
    writer's evidence (file modes would not stop a reader running as root); a reader that writes into its copy
    fails its test (the plugin compares the files before and after it)."""
    view = root / "read-by" / cell.id
    sources = []
    for cid in writers:
        shutil.copytree(ctx.layout.artifacts / cid, view / cid)
        sources.append({"cell": cid, "path": str(view / cid)})
    return sources


def _read(cell, ctx, root: Path, writers: list):
    """(the plugin's records, '') for one reading cell, or (None, why: NO_TESTS or the reason naming the cell)."""
    sources = _copies(cell, ctx, root, writers)
    try:
        return _run_readers(cell, ctx, root, sources)
    finally:
        shutil.rmtree(root / "read-by" / cell.id, ignore_errors=True)


def _run_readers(cell, ctx, root: Path, sources: list):
    plan, records, junit = (root / (cell.id + suffix) for suffix in (".plan.json", ".records.json", ".xml"))
    write_atomic(plan, json.dumps({"sources": sources, "records": str(records)}))
    python = CellEnv(cell, ctx.envs, ctx.project.root).python  # the env the cell's tests just ran in
    env = {k: v for k, v in cell_environ(cell, ctx).items()  # readers write no evidence of the cell's own run
           if k not in environ.RUN_PATHS}
    env[var.CROSS] = str(plan)
    cmd = pytest_command(python, ctx.project.test, junit, "-o", "junit_suite_name=cross-" + cell.id,
                         "--timeout", str(ctx.project.timeout))
    code, out = procs.run(cmd, cwd=ctx.project.root, env=env, timeout=ctx.deadline)
    if code == NO_TESTS:
        return None, NO_TESTS
    try:
        data = json.loads(records.read_text())
    except (OSError, ValueError):
        data = None
    if code not in (0, 1) or data is None:
        return None, "%s: the readers' pytest exited %s: %s" % (cell.id, code, procs.tail(out) or "no output")
    return data, ""
