"""`tfpin migrate`: what a move to TF 2 would cost the project, verified rather than guessed.

    1. convert  TensorFlow's own converter, `tf_upgrade_v2` (shipped in the TF 1.13+ wheels), from a 1.x cell's
                env over a copy of the project's files; its report is kept (reports/migrate/tf_upgrade_v2.txt)
                and read into changes, warnings and errors by file:line
    2. run      the converted copy's suite in the TF 2.x cells of the migration matrix (or --matrix), through
                the matrix pipeline's own steps (env, pinned imports, pytest, classify, cache)
    3. report   reports/migrate/migrate.{json,md}: per cell passed or failed, the first error of each failing
                test, and the converter's unresolved warnings in the files those tests live in
The original project is never written to; the converted tree is deleted after the run unless --keep.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from tfpin import events, files, mdtext, pipeline, procs
from tfpin.cell import junit
from tfpin.cell.envs import CellEnv, InstallError, MissingInterpreter, Unavailable
from tfpin.config import matrix as matrices
from tfpin.config import project as projects
from tfpin.config.context import Context, rel
from tfpin.config.layout import Layout
from tfpin.options import MigrateOptions

CONVERTER = "tf_upgrade_v2"
DEFAULT_MATRIX = "migration"
SHOWN = 12  # failing tests / converter lines listed per cell in migrate.md (all of them are in migrate.json)
LINE = re.compile(r"^(?P<file>[^\n:]+?\.py):(?P<line>\d+):(?P<col>\d+): (?P<level>INFO|WARNING|ERROR): (?P<text>.*)$")
BARE = re.compile(r"^(?P<line>\d+):(?P<col>\d+): (?P<level>INFO|WARNING|ERROR): (?P<text>.*)$")
PROCESSING = re.compile(r"^Processing file '(.+)'$")


class MigrateError(Exception):
    """The conversion could not be made (no 1.13+ cell, converter failed): the message names the cell and why."""


def source_cell(m, wanted: str | None):
    """The 1.x cell whose converter is used: --from, else the newest TF 1.13+ cell of the project's matrix."""
    from packaging.version import Version

    if wanted:
        return m.select([wanted])[0]
    tf1 = [c for c in m.cells
           if "tensorflow" in c.pins and Version("1.13") <= Version(c.pins["tensorflow"]) < Version("2")]
    if not tf1:
        raise MigrateError("matrix %r has no TF 1.13-1.15 cell, the releases that ship %s: pass --from CELL"
                           % (m.name, CONVERTER))
    return max(tf1, key=lambda c: (Version(c.pins["tensorflow"]), c.python))


def copy_project(project, outputs, into: Path) -> int:
    """The project's files (git-tracked and untracked-not-ignored, else all) without tfpin's outputs; a count."""
    root = project.root
    found = files.git_files(root)
    if found is None:
        found = list(files.walk(root))
    outputs = [Path(o).resolve() for o in outputs]
    count = 0
    for path in found:
        if not path.is_file() or any(path.resolve().is_relative_to(o) for o in outputs):
            continue
        target = into / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        count += 1
    return count


def convert(cell, ctx, original: Path, converted: Path, report: Path, log) -> str:
    """Run the cell's tf_upgrade_v2 over `original` into `converted`; the converter's summary line."""
    env = CellEnv(cell, ctx.envs, ctx.project.root, ctx.install_digest, ctx.local)
    try:
        env.ensure(log)
    except (MissingInterpreter, Unavailable, InstallError) as exc:
        raise MigrateError("%s: cannot build the env whose %s converts the project: %s"
                           % (cell.id, CONVERTER, exc)) from None
    tool = env.path / "bin" / CONVERTER
    if not tool.exists():
        raise MigrateError("%s: its TensorFlow has no %s (TF 1.13+ ship it): pass --from CELL" % (cell.id, CONVERTER))
    cmd = [str(tool), "--intree", str(original), "--outtree", str(converted), "--reportfile", str(report),
           "--copyotherfiles", "True"]
    log("$ " + " ".join(cmd))
    code, out = procs.run(cmd, cwd=original, timeout=1800)
    log(out or "")
    if code != 0 or not converted.is_dir():
        raise MigrateError("%s: %s exited %s: %s" % (cell.id, CONVERTER, code, procs.tail(out) or "no output"))
    said = [ln for ln in (out or "").splitlines() if ln.startswith(("Converted", "Detected"))]
    return "; ".join(said)


def read_report(text: str, original: Path) -> list[dict]:
    """[{file, line, col, level, text}] of the converter's report, paths relative to the project: the summary's
    `file:line:col: LEVEL: text` lines and the detailed log's `line:col: LEVEL: text` under `Processing file '...'`."""
    out, seen, current = [], set(), None
    prefix = str(original).rstrip("/") + "/"
    for raw in text.splitlines():
        line = raw.strip()
        processing = PROCESSING.match(line)
        if processing:
            current = processing.group(1)
            continue
        match = LINE.match(line) or (BARE.match(line) if current else None)
        if not match:
            continue
        path = str(match.groupdict().get("file") or current)
        path = path[len(prefix):] if path.startswith(prefix) else path
        entry = (path, int(match.group("line")), int(match.group("col")), match.group("level"), match.group("text"))
        if entry not in seen:
            seen.add(entry)
            out.append(dict(zip(("file", "line", "col", "level", "text"), entry)))
    return sorted(out, key=lambda n: (n["file"], n["line"], n["col"]))


def cell_verdicts(results, ctx, notes: list[dict]) -> list[dict]:
    """Per TF 2.x cell: its status, counts, and each failing test with its first error and the converter's
    unresolved warnings (WARNING, ERROR) in the test's file."""
    unresolved: dict[str, list] = {}
    for n in notes:
        if n["level"] != "INFO":
            unresolved.setdefault(n["file"], []).append(n)
    out = []
    for r in results:
        errors = {}
        if r.junit and (ctx.project.root / r.junit).is_file():
            errors = junit.read(ctx.project.root / r.junit)["errors_by_test"]
        failing = [{"test": tid, "error": errors.get(tid, ""),
                    "converter": ["%(file)s:%(line)d: %(level)s: %(text)s" % n
                                  for n in unresolved.get(tid.split("::")[0], [])]} for tid in r.failing]
        out.append({"cell": r.id, "status": r.status, "reason": r.reason, "tests": r.tests.__dict__,
                    "failing": failing})
    return out


def markdown(summary: dict) -> str:
    rows = ["# Migration to TF 2, verified", "",
            "Converted with %s from %s: %s. The converter's report: %s." % (
                mdtext.code(CONVERTER, in_table=False), mdtext.code(summary["from"], in_table=False),
                mdtext.text(summary["converter"] or "(no summary line)"),
                mdtext.code(summary["report"], in_table=False)),
            "", "| cell | status | passed | failed | errors | skipped | first error |", "|---|---|--:|--:|--:|--:|---|"]
    for c in summary["cells"]:
        t = c["tests"]
        first = c["failing"][0]["error"] if c["failing"] else ("" if c["status"] == "passed" else c["reason"])
        rows.append("| %s | %s | %d | %d | %d | %d | %s |" % (
            mdtext.code(c["cell"]), c["status"], t["passed"], t["failed"], t["errors"], t["skipped"],
            mdtext.text(first)))
    levels: dict = {}
    for n in summary["converter_notes"]:
        levels[n["level"]] = levels.get(n["level"], 0) + 1
    rows += ["", "Converter notes: %s." % (", ".join("%d %s" % (v, k) for k, v in sorted(levels.items())) or "none")]
    for c in summary["cells"]:
        if not c["failing"]:
            continue
        rows += ["", "## %s: %s" % (mdtext.text(c["cell"]), c["status"]), ""]
        for f in c["failing"][:SHOWN]:
            rows.append("- %s: %s" % (mdtext.code(f["test"], in_table=False), mdtext.text(f["error"])))
        if len(c["failing"]) > SHOWN:
            rows.append("- (+%d more failing tests in migrate.json)" % (len(c["failing"]) - SHOWN))
        left = sorted({line for f in c["failing"] for line in f["converter"]})
        if left:
            rows += ["", "What the converter could not settle in those tests' files:", ""]
            rows += ["- %s" % mdtext.text(line) for line in left[:SHOWN]]
            if len(left) > SHOWN:
                rows.append("- (+%d more in tf_upgrade_v2.txt)" % (len(left) - SHOWN))
    return "\n".join(rows) + "\n"


def run(opts: MigrateOptions, reporter: events.Reporter) -> int:
    """The command: convert, run, report; the exit code of the TF 2.x cells (0 only when all passed)."""
    project = projects.load()
    layout = Layout.of(project.root, opts.selection.reports, opts.selection.envs)
    source_matrix = matrices.load(project.matrix, project)
    try:
        cell = source_cell(source_matrix, opts.from_cell)
    except matrices.UnknownCell:
        source_matrix = matrices.load("full", project)
        cell = source_cell(source_matrix, opts.from_cell)
    out = layout.reports / "migrate"
    work = project.root / ".tfpin" / "migrate"  # beside the default envs, never in the copy
    original, converted = work / "original", work / "converted"
    for path in (original, converted):
        files.remove(path)
    out.mkdir(parents=True, exist_ok=True)
    count = copy_project(project, [layout.reports, layout.envs, work], original)
    ctx = Context(project, layout.reports, layout.envs, opts.selection.log_level)
    log_path = out / "convert.log"
    report_file = out / "tf_upgrade_v2.txt"
    reporter.emit(events.Info("converting %d files of %s with %s from %s" % (count, project.root, CONVERTER, cell.id)))
    with open(log_path, "w", encoding="utf-8") as log_file:
        try:
            said = convert(cell, ctx, original, converted, report_file, lambda text: log_file.write(text + "\n"))
        except MigrateError as exc:
            reporter.emit(events.Problem("%s (log: %s)" % (exc, rel(log_path, ctx))))
            return 1
    notes = read_report(report_file.read_text(errors="replace"), original)
    reporter.emit(events.Info("%s; report %s" % (said, rel(report_file, ctx))))
    try:
        return _run_converted(opts, reporter, project, layout, converted, cell, said, notes, out)
    finally:
        files.remove(original)
        if not opts.keep:
            files.remove(converted)
        else:
            reporter.emit(events.Output("tfpin: the converted tree is kept in %s (diff it against %s)"
                                        % (converted, project.root)))


def _run_converted(opts: MigrateOptions, reporter: events.Reporter, project, layout, converted, cell, said, notes,
                   out) -> int:
    tree = projects.load_file(converted / project.source.relative_to(project.root))
    m = matrices.load(opts.selection.matrix or DEFAULT_MATRIX, tree)
    ids = list(opts.selection.cells)
    cells = m.select(ids) if ids else m.cells
    ctx = Context(tree, out, layout.envs, opts.selection.log_level)
    ctx.config_files = [m.path, m.constraints_path, tree.source]
    # On TF 2.x a module that cannot import (standalone Keras, tf.contrib) must not hide every other test.
    ctx.pytest_extra = ["--continue-on-collection-errors"]
    results, interrupted, _ = pipeline.run_cells(m, cells, ctx, reporter, running=opts.running, write_report=True,
                                                 partial=bool(ids))
    skip_missing = opts.selection.skip_missing_interpreters
    if interrupted is not None:
        return pipeline.finish(results, interrupted, reporter, skip_missing=skip_missing)
    summary = {"from": cell.id, "converter": said, "report": str(Path("reports") / "migrate" / "tf_upgrade_v2.txt"),
               "converter_notes": notes, "matrix": m.name, "cells": cell_verdicts(results, ctx, notes)}
    files.write_atomic(out / "migrate.json", json.dumps(summary, indent=2) + "\n")
    text = markdown(summary)
    files.write_atomic(out / "migrate.md", text)
    reporter.emit(events.Output(text.rstrip("\n")))
    reporter.emit(events.Output("reports: %s, %s" % (out / "migrate.md", out / "migrate.json")))
    return pipeline.finish(results, None, reporter, skip_missing=skip_missing)
