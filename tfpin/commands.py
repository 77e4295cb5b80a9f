"""The thin handler of each command: turn the parsed arguments into the command's typed options
(tfpin/options.py), call the module that does the work, say the outcome through the console the CLI owns.

`matrix` is tfpin/pipeline.py; the others are short enough to read here. Nothing below this module sees argparse.
"""
from __future__ import annotations

import json
from pathlib import Path

from tfpin import pipeline
from tfpin.cell import bench as benches
from tfpin.cell.status import PASSED, UNAVAILABLE
from tfpin.config import matrix as matrices
from tfpin.config import project as projects
from tfpin.config.context import rel
from tfpin.config.inputs import CATALOGUE, UsageError, load, load_one
from tfpin.events import CellFinished, CellStarted, Info, Output, Problem, Reporter
from tfpin.files import exists, write_atomic
from tfpin.generate import toxini
from tfpin.options import (
    BenchOptions,
    CellOptions,
    CiOptions,
    CrossOptions,
    DriftOptions,
    InitOptions,
    ListOptions,
    MatrixOptions,
    PinsOptions,
    ReportOptions,
    Running,
    Selection,
    ToxIniOptions,
)
from tfpin.report import journal


def _selection(ns) -> Selection:
    """The options every command that reads a matrix shares."""
    return Selection(matrix=ns.matrix, cells=tuple(i.strip() for i in (ns.cells or "").split(",") if i.strip()),
                     reports=ns.reports, envs=ns.envs, log_level=ns.log_level,
                     skip_missing_interpreters=ns.skip_missing_interpreters,
                     pytest_args=tuple(ns.passthrough) if ns.passthrough is not None else None)


def _running(ns) -> Running:
    """How cells run, for the commands that run them."""
    if getattr(ns, "retries", 0) < 0:
        raise UsageError("--retries must be 0 or more (got %d)" % ns.retries)
    return Running(use_cache=not getattr(ns, "no_cache", False), view=getattr(ns, "view", "normal"),
                   jobs=getattr(ns, "jobs", None), fail_fast=getattr(ns, "fail_fast", None),
                   retries=getattr(ns, "retries", 0), coverage=_coverage(ns))


def _coverage(ns) -> bool:
    """--coverage, refused before anything runs when the host cannot read coverage data (cell/covdata.py)."""
    if not getattr(ns, "coverage", False):
        return False
    try:
        import coverage
    except ImportError:
        raise UsageError("--coverage combines the cells' coverage.py data on this host, and coverage is not installed "
                         "in tfpin's own environment: `pip install 'coverage>=7'` there") from None
    if int(coverage.__version__.split(".")[0]) < 7:
        raise UsageError("--coverage needs coverage>=7 in tfpin's own environment (found %s): it reads the data of "
                         "every cell's coverage.py, 5.3 to 7.x" % coverage.__version__)
    return True


def cmd_matrix(ns, console: Reporter) -> int:
    return pipeline.matrix(MatrixOptions(_selection(ns), _running(ns), floors=ns.floors), console)


def cmd_cell(ns, console: Reporter) -> int:
    opts = CellOptions(_selection(ns), _running(ns), ns.cell_id)
    project, m, (cell,), ctx = load_one(opts.selection, opts.cell_id)
    results, interrupted, _ = pipeline.run_cells(m, [cell], ctx, console, running=opts.running, write_report=False)
    r = results[0]
    console.emit(Output("junit: %s  log: %s  lock: %s" % (r.junit or "-", r.log or "-", r.lock or "-")))
    # Same rule as the matrix, so a CI job per cell agrees with the whole-matrix run.
    return pipeline.finish(results, interrupted, console, skip_missing=opts.selection.skip_missing_interpreters)


def cmd_bench(ns, console: Reporter) -> int:
    """The project's bench in each cell (tfpin/cell/bench.py: what tfpin reads of its JSON), each record stored, then
    the report rebuilt with the figures."""
    opts = BenchOptions(_selection(ns))
    project, m, cells, ctx = load(opts.selection)
    if not project.bench:
        raise UsageError("project %s declares no bench command: add `bench` to %s, the arguments to the cell's Python "
                         "of a command that prints one JSON object with its `figures`, name -> number (e.g. "
                         "[\"-m\", \"mypkg.bench\", \"--json\"] printing {\"figures\": {\"requests/s\": 218.3}}); "
                         "pytest-style args after -- are appended" % (project.root, project.source))
    failed = False
    for i, cell in enumerate(cells, 1):
        console.emit(CellStarted(i, len(cells), cell.id, "bench started"))
        data = benches.run(cell, ctx, ctx.selection or ())
        write_atomic(ctx.layout.bench(cell.id), json.dumps(data, indent=2) + "\n")
        failed = failed or data["status"] not in (benches.MEASURED, UNAVAILABLE)
        console.emit(CellFinished(i, len(cells), cell.id, benches.describe(data)))
    # The matrix's report, rebuilt from every cell's stored result with the figures now on disk (--cells only
    # chose which cells to bench): written only when each cell has a result that may join it.
    name = m.report_name(False)
    stored = results, refused = journal.stored_results(m.cells, ctx)
    if results and not refused:
        journal.from_stored(m, m.cells, ctx, name, False, stored)
        console.emit(Output("bench figures joined to %s.json/.md/.html, rebuilt from the cells' stored results"
                            % rel(ctx.layout.report(name).with_suffix(""), ctx)))
    else:
        console.emit(Info("figures kept in %s/; they join the report of the next full `tfpin matrix` (%d of %d "
                          "cells have no valid stored result)" % (rel(ctx.layout.bench_dir, ctx), len(refused),
                                                                  len(m.cells))))
    return 1 if failed else 0


def cmd_migrate(ns, console: Reporter) -> int:
    from tfpin import migrate
    from tfpin.options import MigrateOptions

    opts = MigrateOptions(_selection(ns), _running(ns), from_cell=ns.from_cell, keep=ns.keep)
    return migrate.run(opts, console)


def cmd_report(ns, console: Reporter) -> int:
    """Cells run on separate runners each leave reports/cells/<id>.json; this joins the valid ones. With
    --constraints, the recommended cells' installed sets are also written for `pip install -c`: exit as without it,
    or 1 where that would be 0 but no constraints file could be written."""
    opts = ReportOptions(_selection(ns), constraints=ns.constraints)
    if opts.constraints is not None and exists(opts.constraints) and not exists(opts.constraints, is_dir=True):
        raise UsageError("--constraints %s: not a directory; give the directory the constraints-py3.X.txt files "
                         "go in (it is created if missing)" % opts.constraints)
    project, m, cells, ctx = load(opts.selection)
    subset = bool(opts.selection.cells)
    name = m.report_name(subset)
    rep, results, refused = journal.from_stored(m, cells, ctx, name, subset)
    console.emit(journal.summary_of(rep, ctx, name))
    for line in refused:
        console.emit(Problem("refused %s" % line))
    if refused:
        console.emit(Problem("%d of %d cells have no valid result; re-run them with `tfpin cell ID` (full suite, "
                             "no -k)%s" % (len(refused), len(cells), "; no constraints file written"
                                           if opts.constraints is not None else "")))
        return 1
    code = pipeline.finish(results, None, console, skip_missing=opts.selection.skip_missing_interpreters)
    errors = (rep.get("cross") or {}).get("errors", [])
    for error in errors:  # the same rule as `tfpin matrix`: a reader that crashed fails the run
        console.emit(Problem("cross-cell step failed: %s" % error))
    code = code or (1 if errors else 0)
    if opts.constraints is not None and not _constraints(rep, ctx, name, opts.constraints, console):
        return code or 1
    return code


def _constraints(rep: dict, ctx, name: str, directory: Path, console: Reporter) -> bool:
    """The constraints files of this report's recommendation (tfpin/report/compat.py); False, said, when there
    are none to write."""
    from tfpin.report import compat

    try:
        written = compat.write_constraints(compat.build(rep, ctx.reports, name), directory)
    except compat.NoConstraints as exc:
        console.emit(Problem(str(exc)))
        return False
    console.emit(Output("constraints for pip install -c: %s" % ", ".join(rel(p, ctx) for p in written)))
    return True


def cmd_cross(ns, console: Reporter) -> int:
    """The readers between cells in one cell, as a CI job after every cell job: over the cell results the pipeline
    downloaded (reports/cells, reports/artifacts), in this cell's env (built here if it is not); `tfpin report`
    joins every reading cell's record into the verdicts, as `tfpin matrix` makes them in one run."""
    from tfpin.cell.envs import EnvLock
    from tfpin.cell.runner import base_result, prepare
    from tfpin.cross import run as cross

    opts = CrossOptions(_selection(ns), ns.cell_id)
    project, m, cells, ctx = load(opts.selection)
    cell = next((c for c in cells if c.id == opts.cell_id), None)
    if cell is None:
        raise UsageError("cell %s is not among the cells of this run (%s)"
                         % (opts.cell_id, ", ".join(c.id for c in cells)))
    results, refused = journal.stored_results(cells, ctx)
    for line in refused:
        console.emit(Problem("not read: %s" % line))
    if cell.id in {r.id for r in results if r.status == PASSED}:
        result = base_result(cell, ctx)
        with EnvLock(ctx.layout.env(cell.id), lambda text: console.emit(Info(text))):
            env = prepare(cell, ctx, result, lambda text: None)
        if env is None:
            console.emit(Problem("cross: %s" % result.reason))
            return 1
    error = cross.read_one(cell, cells, results, ctx, log=lambda line: console.emit(Info(line)))
    if error:
        console.emit(Problem("cross-cell step failed: %s" % error))
    return 1 if error else 0


def cmd_list(ns, console: Reporter) -> int:
    opts = ListOptions(_selection(ns), as_json=ns.json)
    project, m, cells, ctx = load(opts.selection)
    if opts.as_json:
        console.emit(Output(json.dumps([{**c.describe(), "tox_env": c.tox_env(), "constraints": c.constraint_lines(),
                                         "install": list(c.install)} for c in cells], indent=2)))
    else:
        for c in cells:
            console.emit(Output("%-30s %s" % (c.id, " ".join(c.requirement_lines()[: len(c.requirements)]
                                                             + c.constraint_lines()))))
    return 0


def cmd_ci(ns, console: Reporter) -> int:
    from tfpin.generate import ci_github, ci_gitlab, ci_schedule, source

    opts = CiOptions(_selection(ns), ns.system, output=ns.output, tfpin=ns.tfpin, schedule=ns.schedule)
    generator = {"github": ci_github, "gitlab": ci_gitlab}[opts.system]
    try:  # a bad schedule is refused before the project is read
        schedule = ci_schedule.check_cron(opts.schedule) if opts.schedule is not None else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    project, m, cells, ctx = load(opts.selection)
    try:
        requirement = opts.tfpin or source.requirement(project.root)
        text = generator.render(project, m, cells, requirement, schedule)
    except (source.NoSource, ValueError) as exc:
        raise UsageError(str(exc)) from None
    output = (opts.output or generator.default_output(project)).resolve()
    write_atomic(output, text)
    console.emit(Output("wrote %s: %d cell jobs and a report job (tfpin installed from %r)"
                        % (output, len(cells), requirement)))
    console.emit(Output("each job runs `tfpin cell <id>` in a python:X.Y image, uv's cache kept per cell; `tfpin "
                        "report` joins them into the report"))
    if schedule is not None:
        console.emit(Output("on the schedule %r (UTC) only the drift jobs run: tfpin drift, one job per Python"
                            % schedule))
        if opts.system == "gitlab":
            for line in ci_schedule.gitlab_instructions(schedule):
                console.emit(Output(line))
    return 0


def cmd_pins(ns, console: Reporter) -> int:
    from tfpin.pins import proposal as pinproposal
    from tfpin.pins import store as pinstore
    from tfpin.pins.discover import discover_cells, pins_target

    packages = tuple(p.strip() for p in ns.packages.split(",") if p.strip()) or None
    opts = PinsOptions(_selection(ns), ns.action, packages=packages, jobs=ns.jobs, apply=ns.apply)
    project, m, cells, ctx = load(opts.selection)
    out_dir = ctx.layout.pins
    if opts.action == "apply":
        try:
            results = pinstore.load_results(out_dir, cells, ctx, project.smoke)
        except pinstore.StoredResultError as exc:
            raise UsageError(str(exc)) from None
    else:
        results = discover_cells(cells, ctx, project, m, opts, console)
        if isinstance(results, int):
            return results
    entries = pinproposal.constraint_blocks(results, cells)
    summary = pinproposal.summary_markdown(results, entries)
    write_atomic(out_dir / "summary.md", summary)
    console.emit(Output(summary))
    console.emit(Output("wrote %s/<cell>.toml, <cell>.json (every trial: versions, verdict, seconds) and summary.md"
                        % rel(out_dir, ctx)))
    problems = [r for r in results if r["problem"]]
    if (opts.apply or opts.action == "apply") and entries:
        target, header = pins_target(project, m)
        replaced = pinproposal.apply(target, entries, header)
        console.emit(Output("applied %d pins to %s (replacing %s)" % (len(entries), target,
                                                                     ", ".join(replaced) or "nothing")))
        if problems:
            console.emit(Info("note: these pins were measured without %s (discovery did not finish there)"
                              % ", ".join(r["cell"] for r in problems)))
    searched = [r for r in results if not r["problem"] and not r["unavailable"]]
    return 0 if searched and not problems else 1


def cmd_drift(ns, console: Reporter) -> int:
    """Today's resolution of each cell against its last lock (tfpin/drift.py)."""
    from tfpin import drift

    return drift.run(DriftOptions(_selection(ns), jobs=ns.jobs), console)


def cmd_init(ns, console: Reporter) -> int:
    from tfpin.config.layout import Layout
    from tfpin.generate import init

    opts = InitOptions(ns.matrix, reports=ns.reports, envs=ns.envs, view=ns.view)
    root = Path.cwd()
    existing = projects.find_config(root)
    if existing is not None and existing.parent == root:
        raise UsageError("%s already configures tfpin for %s; edit it, or delete it to start over" % (existing, root))
    matrices.load(opts.matrix)  # a bad --matrix is refused before anything is built
    starter = init.plan(root, opts.matrix, Layout.of(root, opts.reports, opts.envs), console)
    write_atomic(root / projects.CONFIG_FILE, starter.text())
    console.emit(Output("wrote %s" % (root / projects.CONFIG_FILE)))
    for note in starter.notes + init.ignore_outputs(root):
        console.emit(Output("  " + note))
    cell = starter.asked.id if starter.asked is not None else matrices.load(opts.matrix).cells[-1].id
    console.emit(Output("next: tfpin matrix    (or one cell first: tfpin cell %s)" % cell))
    return 0


def cmd_tox(ns, console: Reporter) -> int:
    opts = ToxIniOptions(check=ns.check, force=ns.force)
    project = projects.load()
    text = toxini.render(matrices.load(CATALOGUE), matrices.load(matrices.DEFAULT_MATRIX), project.test,
                         project.install)
    path = project.root / "tox.ini"
    existing = path.read_bytes().decode("utf-8", "surrogateescape") if path.is_file() else None
    if existing is not None and not toxini.generated_by_tfpin(existing) and not opts.check and not opts.force:
        raise UsageError("%s exists and was not written by tfpin: pass --force to replace its [tox] and [testenv] "
                         "sections (its other sections, such as [pytest], are kept)" % path)
    text = toxini.merged(existing, text)
    if opts.check:
        if existing != text:
            console.emit(Problem("tox.ini is out of date with the built-in matrices; run `tfpin tox-ini`"))
            return 1
        console.emit(Output("tox.ini matches the built-in matrices"))
        return 0
    write_atomic(path, text)
    console.emit(Output("wrote %s" % path))
    return 0
