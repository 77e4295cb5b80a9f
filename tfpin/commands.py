"""The thin handler of each command: read the inputs, call the module that does the work, say the outcome.

`matrix` is tfpin/pipeline.py; the others are short enough to read here.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from . import bench as benches
from . import matrix as matrices
from . import pipeline, report, toxini
from . import project as projects
from .console import progress
from .files import write_atomic
from .inputs import CATALOGUE, UsageError, load, load_one
from .runner import rel
from .status import UNAVAILABLE


def cmd_matrix(args) -> int:
    return pipeline.matrix(args)


def cmd_cell(args) -> int:
    project, m, (cell,), ctx = load_one(args)
    results, interrupted, _ = pipeline.run_cells(m, [cell], ctx, False, use_cache=not args.no_cache, view=args.view)
    r = results[0]
    print("junit: %s  log: %s  lock: %s" % (r.junit or "-", r.log or "-", r.lock or "-"))
    # Same rule as the matrix, so a CI job per cell agrees with the whole-matrix run.
    return pipeline.finish(results, interrupted, args)


def cmd_bench(args) -> int:
    """The project's bench in each cell (tfpin/bench.py: what tfpin reads of its JSON), each record stored, then
    the report rebuilt with the figures."""
    project, m, cells, ctx = load(args)
    if not project.bench:
        raise UsageError("project %s declares no bench command: add `bench` to %s, the arguments to the cell's Python "
                         "of a command that prints one JSON object with its `figures`, name -> number (e.g. "
                         "[\"-m\", \"mypkg.bench\", \"--json\"] printing {\"figures\": {\"requests/s\": 218.3}}); "
                         "pytest-style args after -- are appended" % (project.root, project.source))
    failed = False
    for i, cell in enumerate(cells, 1):
        progress(i, len(cells), cell, "bench started")
        data = benches.run(cell, ctx, ctx.selection or ())
        write_atomic(ctx.layout.bench(cell.id), json.dumps(data, indent=2) + "\n")
        failed = failed or data["status"] not in (benches.MEASURED, UNAVAILABLE)
        progress(i, len(cells), cell, benches.describe(data))
    # The matrix's report, rebuilt from every cell's stored result with the figures now on disk (--cells only
    # chose which cells to bench): written only when each cell has a result that may join it.
    name = report.report_name(m, False)
    stored = results, refused = pipeline.stored_results(m.cells, ctx)
    if results and not refused:
        pipeline.report_from_stored(m, m.cells, ctx, name, False, stored)
        print("bench figures joined to %s.json/.md/.html, rebuilt from the cells' stored results"
              % rel(ctx.layout.report(name).with_suffix(""), ctx))
    else:
        print("tfpin: figures kept in %s/; they join the report of the next full `tfpin matrix` (%d of %d cells "
              "have no valid stored result)" % (rel(ctx.layout.bench_dir, ctx), len(refused), len(m.cells)))
    return 1 if failed else 0


def cmd_migrate(args) -> int:
    from . import migrate

    return migrate.run(args)


def cmd_report(args) -> int:
    """Cells run on separate runners each leave reports/cells/<id>.json; this joins the valid ones."""
    project, m, cells, ctx = load(args)
    rep, results, refused = pipeline.report_from_stored(m, cells, ctx, report.report_name(m, bool(args.cells)),
                                                        bool(args.cells))
    print(report.markdown(rep), end="")
    for line in refused:
        print("tfpin: refused %s" % line, file=sys.stderr)
    if refused:
        print("tfpin: %d of %d cells have no valid result; re-run them with `tfpin cell ID` (full suite, no -k)"
              % (len(refused), len(cells)), file=sys.stderr)
        return 1
    code = pipeline.finish(results, None, args)
    errors = (rep.get("cross") or {}).get("errors", [])
    for error in errors:  # the same rule as `tfpin matrix`: a reader that crashed fails the run
        print("tfpin: cross-cell step failed: %s" % error, file=sys.stderr)
    return code or (1 if errors else 0)


def cmd_cross(args) -> int:
    """The readers between cells in one cell, as a CI job after every cell job: over the cell results the pipeline
    downloaded (reports/cells, reports/artifacts), in this cell's env (built here if it is not); `tfpin report`
    joins every reading cell's record into the verdicts, as `tfpin matrix` makes them in one run."""
    from . import cross
    from .envs import EnvLock
    from .runner import base_result, prepare

    project, m, cells, ctx = load(args)
    cell = next((c for c in cells if c.id == args.cell_id), None)
    if cell is None:
        raise UsageError("cell %s is not among the cells of this run (%s)"
                         % (args.cell_id, ", ".join(c.id for c in cells)))
    results, refused = pipeline.stored_results(cells, ctx)
    for line in refused:
        print("tfpin: not read: %s" % line, file=sys.stderr)
    if cell.id in {r.id for r in results if r.status == "passed"}:
        result = base_result(cell, ctx)
        with EnvLock(ctx.layout.env(cell.id), print):
            env = prepare(cell, ctx, result, lambda text: None)
        if env is None:
            print("tfpin: cross: %s" % result.reason, file=sys.stderr)
            return 1
    error = cross.read_one(cell, cells, results, ctx, log=lambda line: print("tfpin: " + line, flush=True))
    if error:
        print("tfpin: cross-cell step failed: %s" % error, file=sys.stderr)
    return 1 if error else 0


def cmd_list(args) -> int:
    project, m, cells, ctx = load(args)
    if args.json:
        print(json.dumps([{**c.describe(), "tox_env": c.tox_env(), "constraints": c.constraint_lines(),
                           "install": list(c.install)} for c in cells], indent=2))
    else:
        for c in cells:
            print("%-30s %s" % (c.id, " ".join(c.requirement_lines()[: len(c.requirements)] + c.constraint_lines())))
    return 0


def cmd_ci(args) -> int:
    from . import ci_github, ci_gitlab, source

    generator = {"github": ci_github, "gitlab": ci_gitlab}[args.system]
    project, m, cells, ctx = load(args)
    try:
        requirement = args.tfpin or source.requirement(project.root)
        text = generator.render(project, m, cells, requirement)
    except (source.NoSource, ValueError) as exc:
        raise UsageError(str(exc)) from None
    output = (args.output or generator.default_output(project)).resolve()
    write_atomic(output, text)
    print("wrote %s: %d cell jobs and a report job (tfpin installed from %r)" % (output, len(cells), requirement))
    print("each job runs `tfpin cell <id>` in a python:X.Y image; `tfpin report` joins them into the report")
    return 0


def cmd_pins(args) -> int:
    from . import pins
    from .discover import discover_cells, pins_target

    project, m, cells, ctx = load(args)
    out_dir = ctx.layout.pins
    if args.action == "apply":
        try:
            results = pins.load_results(out_dir, cells, ctx, project.smoke)
        except pins.StoredResultError as exc:
            raise UsageError(str(exc)) from None
    else:
        if args.jobs is not None and args.jobs < 1:
            raise UsageError("--jobs must be 1 or more (got %d)" % args.jobs)
        from .installer import find_uv
        from .trials import Shared

        if find_uv() is None:
            raise UsageError("pins discover resolves each cell as of its release date with uv (`uv pip compile "
                             "--exclude-newer`), and no uv is installed: `pip install uv` next to tfpin")
        packages = [p.strip() for p in args.packages.split(",") if p.strip()] or None
        shared = Shared(ctx, args.jobs, out_dir / "trials.json")
        print("tfpin: pin discovery for %d cells of matrix %r (%s); cheap oracle: pytest %s; "
              "confirmation: pytest %s" % (len(cells), m.name, shared.describe(), " ".join(project.smoke),
                                          " ".join(project.test)), flush=True)
        results = discover_cells(cells, ctx, project, packages, args.jobs, out_dir, shared)
        if isinstance(results, int):
            return results
    entries = pins.constraint_blocks(results, cells)
    summary = pins.summary_markdown(results, entries)
    write_atomic(out_dir / "summary.md", summary)
    print(summary)
    print("wrote %s/<cell>.toml, <cell>.json (every trial: versions, verdict, seconds) and summary.md"
          % rel(out_dir, ctx))
    problems = [r for r in results if r["problem"]]
    if (args.apply or args.action == "apply") and entries:
        target, header = pins_target(project, m)
        replaced = pins.apply(target, entries, header)
        print("applied %d pins to %s (replacing %s)" % (len(entries), target, ", ".join(replaced) or "nothing"))
        if problems:
            print("tfpin: note: these pins were measured without %s (discovery did not finish there)"
                  % ", ".join(r["cell"] for r in problems))
    searched = [r for r in results if not r["problem"] and not r["unavailable"]]
    return 0 if searched and not problems else 1


def cmd_init(args) -> int:
    from . import init
    from .layout import Layout

    root = Path.cwd()
    existing = projects.find_config(root)
    if existing is not None and existing.parent == root:
        raise UsageError("%s already configures tfpin for %s; edit it, or delete it to start over" % (existing, root))
    matrices.load(args.matrix)  # a bad --matrix is refused before anything is built
    say = (lambda text: None) if args.view == "quiet" else (lambda text: print(text, flush=True))
    starter = init.plan(root, args.matrix, Layout.of(root, args.reports, args.envs), args.view, say)
    write_atomic(root / projects.CONFIG_FILE, starter.text())
    print("wrote %s" % (root / projects.CONFIG_FILE))
    for note in starter.notes + init.ignore_outputs(root):
        print("  " + note)
    cell = starter.asked.id if starter.asked is not None else matrices.load(args.matrix).cells[-1].id
    print("next: tfpin matrix    (or one cell first: tfpin cell %s)" % cell)
    return 0


def cmd_tox(args) -> int:
    project = projects.load()
    text = toxini.render(matrices.load(CATALOGUE), matrices.load(matrices.DEFAULT_MATRIX), project.test,
                         project.install)
    path = project.root / "tox.ini"
    existing = path.read_bytes().decode("utf-8", "surrogateescape") if path.is_file() else None
    if existing is not None and not toxini.generated_by_tfpin(existing) and not args.check and not args.force:
        raise UsageError("%s exists and was not written by tfpin: pass --force to replace its [tox] and [testenv] "
                         "sections (its other sections, such as [pytest], are kept)" % path)
    text = toxini.merged(existing, text)
    if args.check:
        if existing != text:
            print("tox.ini is out of date with the built-in matrices; run `tfpin tox-ini`", file=sys.stderr)
            return 1
        print("tox.ini matches the built-in matrices")
        return 0
    write_atomic(path, text)
    print("wrote %s" % path)
    return 0
