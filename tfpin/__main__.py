"""Command line: `tfpin matrix|cell|bench|report|list|tox-ini` (nox sessions call these too).

Arguments after the first `--` go to pytest unchanged (`tfpin cell ID -- -k batchnorm -x`).
A run with such arguments, or with --cells, is a subset: it writes `<report>-partial.*`
and never the full matrix's report, and a filtered (`--`) result never enters a
recommendation.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import __version__, cross, environ, procs, report, schedule, toxini
from . import matrix as matrices
from . import project as projects
from .runner import Context, cell_environ, now, rel, run_bench, run_cell, stamp, write_atomic
from .status import EXIT_USAGE, UNAVAILABLE, exit_code, exit_reason

CATALOGUE = "full"  # the superset a single cell is looked up in
# What `bench` measures when no arguments follow `--`: the graph stack and Keras fit, same network.
DEFAULT_BENCH_ARGS = ("--keras-fit", "keras")


class UsageError(Exception):
    """Refused before anything ran (exit 2)."""


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough = None
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1:]
    args = parser().parse_args(argv)
    args.passthrough = passthrough
    procs.install_signal_handlers()
    try:
        return args.func(args)
    except (matrices.MatrixError, projects.ProjectError, UsageError) as exc:
        print("tfpin: error: %s" % exc, file=sys.stderr)
        return EXIT_USAGE
    except procs.Interrupted as exc:  # any command, any step: 130 for SIGINT, 143 for SIGTERM
        procs.stop_all(exc.code, exc.name)
        print("tfpin: interrupted by %s during `tfpin %s`" % (exc.name, args.command), file=sys.stderr)
        return exc.code
    except BrokenPipeError:  # `tfpin list | head`: the reader has what it wanted
        sys.stderr.close()
        return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tfpin", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version="tfpin " + __version__)
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp, default_matrix=None):
        sp.add_argument("--matrix", default=default_matrix,
                        help="built-in matrix (%s) or a path to a matrix .toml (default: the project's, else table)"
                        % ", ".join(matrices.available_matrices()))
        sp.add_argument("--cells", default="", help="comma-separated cell ids to run (default: all)")
        sp.add_argument("--reports", type=Path, default=None, help="report directory (default: <project>/reports)")
        sp.add_argument("--envs", type=Path, default=None, help="cell environments (default: <project>/.tfpin/envs)")
        sp.add_argument("--log-level", type=int, choices=(0, 1, 2, 3), default=None,
                        help="TF_CPP_MIN_LOG_LEVEL inside the cells: 0 all, 1 no INFO, 2 no WARNING, 3 no ERROR")
        sp.add_argument("--skip-missing-interpreters", action="store_true",
                        help="a cell whose Python is not on this machine does not fail the run (as in tox)")

    def running(sp):
        sp.add_argument("--no-cache", action="store_true",
                        help="run every cell even when nothing it depends on changed since its stored verdict")

    m = sub.add_parser("matrix", help="run every cell of a matrix and write the reports (pytest args after --)")
    common(m)
    running(m)
    m.add_argument("-j", "--jobs", type=int, default=None,
                   help="cells run at once (default: one per two CPUs, here %d)" % default_jobs())
    m.set_defaults(func=cmd_matrix)

    c = sub.add_parser("cell", help="run one cell of the project's matrix, else of the built-in full matrix "
                                    "(pytest args after --)")
    common(c)
    running(c)
    c.add_argument("cell_id")
    c.set_defaults(func=cmd_cell)

    b = sub.add_parser("bench", help="training throughput in each cell (this repo's stack); merged into the report")
    common(b)
    b.set_defaults(func=cmd_bench)

    rp = sub.add_parser("report", help="join reports/cells/*.json into the matrix report (CI fan-out)")
    common(rp)
    rp.set_defaults(func=cmd_report)

    ls = sub.add_parser("list", help="print a matrix's cells")
    common(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    gh = sub.add_parser("ci", help="write a CI workflow that runs every cell as its own job")
    gh.add_argument("system", choices=("github",), help="the CI system (GitHub Actions)")
    common(gh)
    gh.add_argument("--output", type=Path, default=None,
                    help="where to write it (default: .github/workflows/tfpin.yml at the git root)")
    gh.add_argument("--tfpin", default=None,
                    help="how the jobs install tfpin: a requirement, wheel URL or path (default: this tfpin's "
                         "checkout when the project is tfpin itself, else tfpin==%s)" % __version__)
    gh.set_defaults(func=cmd_ci)

    pn = sub.add_parser("pins", help="discover, by measurement, the constraint pins each cell needs")
    pn.add_argument("action", choices=("discover", "apply"),
                    help="discover: search each cell and write reports/pins/; apply: merge the stored results of "
                         "the selected cells into the matrix (as --apply does), refusing any that are stale")
    common(pn)
    pn.add_argument("--packages", default="", help="comma-separated packages to vary (default: every package "
                                                   "of the resolved set but the cell's exact pins)")
    pn.add_argument("-j", "--jobs", type=int, default=1, help="cells searched at once (each search is mostly one "
                                                                "busy process; default 1)")
    pn.add_argument("--apply", action="store_true", help="merge the proposed pins into the matrix file (or the "
                                                         "project's config when the matrix is a built-in elsewhere)")
    pn.set_defaults(func=cmd_pins)

    i = sub.add_parser("init", help="write a starter tfpin.toml in the current directory (asks nothing)")
    i.set_defaults(func=cmd_init)

    t = sub.add_parser("tox-ini", help="write tox.ini from the built-in matrices (or --check that it is current)")
    t.add_argument("--check", action="store_true")
    t.set_defaults(func=cmd_tox)
    return p


def load(args):
    """(project, matrix, selected cells, context) with every input validated; nothing has run yet."""
    project = projects.load()
    name = args.matrix or project.matrix
    m = matrices.load(name, project)
    ids = [i.strip() for i in args.cells.split(",") if i.strip()]
    cells = m.select(ids) if ids else m.cells
    reports = (args.reports or project.root / "reports").resolve()
    envs = (args.envs or project.root / ".tfpin" / "envs").resolve()
    check_writable(reports)
    ctx = Context(project, reports, envs, args.log_level, args.passthrough)
    ctx.config_files = [m.path, m.constraints_path] + ([project.source] if project.source.name == projects.CONFIG_FILE
                                                      else [])
    return project, m, cells, ctx


def check_writable(reports: Path) -> None:
    """Refuse an unusable report directory before any cell runs, not after the first hour of them."""
    try:
        reports.mkdir(parents=True, exist_ok=True)
        probe = reports / (".tfpin-write-test-%d" % os.getpid())
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError("report directory %s is not writable (%s); pass --reports DIR with a writable "
                         "directory" % (reports, exc.strerror or exc)) from None


def progress(i, n, cell, text):
    print("[%d/%d] %-30s %s" % (i, n, cell.id, text), flush=True)


def result_line(r) -> str:
    t, d = r["tests"], r["durations"]
    if d["tests_s"]:
        counts = "%d passed, %d failed, %d skipped, %d errors" % (t["passed"], t["failed"], t["skipped"], t["errors"])
        line = "%-11s %s  setup %.1fs  tests %.1fs" % (r["status"], counts, d["setup_s"], d["tests_s"])
    else:
        line = "%-11s no tests run  setup %.1fs" % (r["status"], d["setup_s"])
    if r.get("cached_from"):
        line += "  (cached: verdict of %s, nothing changed since)" % r["cached_from"]["finished"]
    elif r.get("env", {}).get("reused"):
        line += "  (env reused)"
    if r.get("env", {}).get("rebuilt_because") and not r.get("cached_from"):
        line += "  (env rebuilt: %s)" % r["env"]["rebuilt_because"]
    if r["status"] != "passed" and r["reason"]:
        line += "\n        " + r["reason"]
    return line


def default_jobs() -> int:
    """A cell suite keeps about two cores busy (its own process plus fresh-process jobs): one cell per two."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus // 2)


def run_cells(m, cells, ctx, write_report: bool, partial: bool = False, jobs: int = 1,
              use_cache: bool = True) -> tuple[list[dict], int | None, dict | None]:
    """Run cells, `jobs` at a time; (results in matrix order, interrupt exit code or None, final report or None).

    A cell whose verdict cache key (tfpin/cache.py) is unchanged re-uses its stored result, marked as
    such. Reports are rewritten after each cell, so an interrupted run keeps every finished one; while
    a complete report of an earlier run exists, this run's unfinished report goes beside it
    (`<name>-incomplete.*`) and replaces it only once this run finished.
    """
    import threading

    from . import cache

    started, done = now(), {}
    report_as = report.report_name(m, partial) if write_report else None
    writing_to = report.in_progress_name(ctx.reports, report_as) if report_as else None
    printing = threading.Lock()
    sources = cache.sources_digest(ctx)
    for name in environ.ignored():
        print("tfpin: ignoring host %s: a cell installs exactly its definition (put pins into the matrix or the "
              "project's constraints)" % name, file=sys.stderr, flush=True)

    def one(i, cell):
        def say(text):
            with printing:
                progress(i + 1, len(cells), cell, text)

        inputs = cache.Inputs(cell, ctx, cell_environ(cell, ctx), sources)
        hit, why = cache.lookup(inputs, ctx) if use_cache else (None, "")
        if hit is None:
            say("started" + (" (%s)" % why if why and why != "no stored result" else ""))
            try:
                result = run_cell(cell, ctx, say)
            except procs.Interrupted as exc:
                if exc.result is not None:
                    exc.result["harness"]["sources"] = sources
                    say(result_line(exc.result))
                raise
            result["harness"]["sources"] = sources
            cache.seal(result, inputs, ctx, cache.sources_digest(ctx))
            write_atomic(ctx.reports / "cells" / (cell.id + ".json"), json.dumps(result, indent=2) + "\n")
        else:
            result = hit
        say(result_line(result))
        with printing:
            done[i] = result
            if writing_to:
                _write(m, cells, _ordered(done), started, None, ctx, writing_to, partial)
        return result

    finished, stop = schedule.run(one, cells, jobs)
    done.update(finished)
    results = _ordered(done)
    interrupted = stop.code if stop is not None else None
    final = None
    if report_as:
        name = writing_to if stop is not None else report_as
        final = _write(m, cells, results, started, now() if stop is None else None, ctx, name, partial,
                       interrupted=stop is not None)
        if stop is None and writing_to != report_as:
            report.remove(ctx.reports, writing_to)
        print()
        print(report.markdown(final), end="")
        print("reports: %s, %s, junit/, locks/, logs/" % (rel(ctx.reports / (name + ".json"), ctx),
                                                          rel(ctx.reports / (name + ".md"), ctx)))
        if name != report_as:
            print("tfpin: this run did not finish: its report is %s.*; the complete %s.* of the earlier run is "
                  "untouched" % (name, report_as))
        if partial:
            print("tfpin: a subset run (--cells or pytest args after --) wrote %s.*; the full matrix's %s.* "
                  "is untouched" % (report_as, report.report_name(m, False)))
    return results, interrupted, final


def _ordered(done: dict) -> list[dict]:
    return [done[i] for i in sorted(done)]


def _write(m, cells, results, started, finished, ctx, name, partial, interrupted=False, cross_verdicts=None):
    rep = report.build(m, cells, results, started, finished, report.load_bench(ctx.reports),
                       selection=ctx.selection, partial=partial, interrupted=interrupted)
    if cross_verdicts is not None:
        rep["cross"] = cross_verdicts
    report.write(rep, ctx.reports, name)
    return rep


def closing_line(results) -> str:
    """Test totals over the cells run now, in the plain 'N passed, N failed' form CI logs are read for;
    cells whose stored verdict was re-used are counted apart, with the totals of the run they come from."""
    def totals(rs):
        return {k: sum(r["tests"][k] for r in rs) for k in ("passed", "failed", "errors", "skipped")}

    ran = [r for r in results if not r.get("cached_from")]
    reused = [r for r in results if r.get("cached_from")]
    t = totals(ran)
    line = "tests: %d passed, %d failed, %d errors, %d skipped" % (t["passed"], t["failed"], t["errors"], t["skipped"])
    if reused:
        c = totals(reused)
        line += ("; %d cells cached (verdicts re-used, nothing changed: %d passed, %d failed, %d errors, "
                 "%d skipped when they ran; --no-cache runs them)" % (len(reused), c["passed"], c["failed"],
                                                                      c["errors"], c["skipped"]))
    return line


def finish(results, interrupted, args) -> int:
    print(closing_line(results))
    if interrupted is not None:
        print("tfpin: interrupted: finished cells are kept in the report; no recommendation from an "
              "interrupted run", file=sys.stderr)
        return interrupted
    code = exit_code(results, args.skip_missing_interpreters)
    if code:
        print("tfpin: %s" % exit_reason(results, args.skip_missing_interpreters), file=sys.stderr)
    return code


def cmd_matrix(args) -> int:
    project, m, cells, ctx = load(args)
    partial = bool(args.cells) or ctx.selection is not None
    print("tfpin: project %s, matrix %r (%s), %d cells%s" % (
        project.root, m.name, m.path, len(cells), ", pytest args: " + " ".join(ctx.selection)
        if ctx.selection else ""), flush=True)
    jobs = default_jobs() if args.jobs is None else args.jobs
    if jobs < 1:
        raise UsageError("--jobs must be 1 or more (got %d)" % jobs)
    t0 = time.monotonic()
    results, interrupted, final = run_cells(m, cells, ctx, True, partial, jobs=min(jobs, len(cells)),
                                            use_cache=not args.no_cache)
    print("tfpin: %d cells in %.1fs" % (len(results), time.monotonic() - t0))
    errors = []
    if interrupted is None:
        t1 = time.monotonic()
        try:
            verdicts = cross.run(cells, results, ctx, log=lambda line: print("tfpin: " + line, flush=True),
                                 use_cache=not args.no_cache)
        except procs.Interrupted as exc:
            print(closing_line(results))
            print("tfpin: interrupted by %s during the cross-cell checks; every cell's result is in the report, "
                  "without cross-cell verdicts" % exc.name, file=sys.stderr)
            return exc.code
        final["cross"] = verdicts
        report.write(final, ctx.reports, report.report_name(m, partial))
        print("tfpin: cross-cell checks in %.1fs%s" % (time.monotonic() - t1, ": skipped, " + verdicts["skipped"]
                                                       if "skipped" in verdicts else ""))
        errors = verdicts.get("errors", [])
    code = finish(results, interrupted, args)
    for error in errors:
        print("tfpin: cross-cell step failed: %s" % error, file=sys.stderr)
    return code or (1 if errors else 0)


def cmd_cell(args) -> int:
    project, m, (cell,), ctx = load_one(args)
    results, interrupted, _ = run_cells(m, [cell], ctx, False, use_cache=not args.no_cache)
    r = results[0]
    print("junit: %s  log: %s  lock: %s" % (r.get("junit", "-"), r.get("log", "-"), r.get("lock", "-")))
    # Same rule as the matrix, so a CI job per cell agrees with the whole-matrix run.
    return finish(results, interrupted, args)


def load_one(args):
    """A cell id the project's matrix lacks is looked up in the built-in matrices: the cross product
    (off-table pairs) first, then the others (intel, GPU, TF 2.x cells)."""
    args.cells = args.cell_id
    try:
        return load(args)
    except matrices.UnknownCell as exc:
        if args.matrix:
            raise
        first = exc
    for name in [CATALOGUE] + [n for n in matrices.available_matrices() if n != CATALOGUE]:
        args.matrix = name
        try:
            return load(args)
        except matrices.UnknownCell:
            continue
    raise matrices.UnknownCell("%s; no built-in matrix (%s) has it either: `tfpin list --matrix NAME` shows their cells"
                               % (first, ", ".join(matrices.available_matrices())))


def cmd_bench(args) -> int:
    project, m, cells, ctx = load(args)
    if not (project.root / "resnet_core" / "bench.py").is_file():
        raise UsageError("bench times tfpin's reference training stack (resnet_core.bench), which project %s does "
                         "not have; it runs in the tfpin repository" % project.root)
    failed = False
    for i, cell in enumerate(cells, 1):
        progress(i, len(cells), cell, "bench started")
        data = run_bench(cell, ctx, ctx.selection or DEFAULT_BENCH_ARGS)
        write_atomic(ctx.reports / "bench" / (cell.id + ".json"), json.dumps(data, indent=2) + "\n")
        if data["status"] == "measured":
            text = "%.1f img/s graph" % data["images_per_sec"]
            if data.get("keras_images_per_sec"):
                text += ", %.1f img/s keras fit" % data["keras_images_per_sec"]
        else:
            text = "%s: %s" % (data["status"], data["reason"])
            failed = failed or data["status"] != UNAVAILABLE
        progress(i, len(cells), cell, text)
    existing = ctx.reports / (report.report_name(m, False) + ".json")
    if existing.exists():
        old = json.loads(existing.read_text())
        report.merge_bench(old, m, report.load_bench(ctx.reports))
        report.write(old, ctx.reports, report.report_name(m, False))
        print("throughput merged into %s and %s" % (rel(existing, ctx), rel(existing.with_suffix(".md"), ctx)))
    return 1 if failed else 0


def cmd_report(args) -> int:
    """Cells run on separate runners each leave reports/cells/<id>.json; this joins the valid ones."""
    project, m, cells, ctx = load(args)
    from . import cache

    results, refused = [], []
    digest, sources = project.install_digest(), cache.sources_digest(ctx)
    for cell in cells:
        path = ctx.reports / "cells" / (cell.id + ".json")
        if not path.exists():
            refused.append("%s: no result for cell %s" % (rel(path, ctx), cell.id))
            continue
        problem, data = report.check_result(path, cell, stamp(cell, digest), sources, __version__)
        if problem:
            refused.append(problem)
        else:
            results.append(data)
    started = now()
    name = report.report_name(m, bool(args.cells))
    rep = _write(m, cells, results, started, started if not refused else None, ctx, name, bool(args.cells))
    print(report.markdown(rep), end="")
    for line in refused:
        print("tfpin: refused %s" % line, file=sys.stderr)
    if refused:
        print("tfpin: %d of %d cells have no valid result; re-run them with `tfpin cell ID` (full suite, no -k)"
              % (len(refused), len(cells)), file=sys.stderr)
        return 1
    return finish(results, None, args)


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
    from . import ci_github

    project, m, cells, ctx = load(args)
    requirement = args.tfpin or ("." if (project.root / "tfpin" / "__init__.py").is_file() else "tfpin==" + __version__)
    try:
        text = ci_github.render(project, m, cells, requirement)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    output = (args.output or ci_github.default_output(project)).resolve()
    write_atomic(output, text)
    print("wrote %s: %d cell jobs and a report job (tfpin installed from %r)" % (output, len(cells), requirement))
    print("each job runs `tfpin cell <id>` in a python:X.Y container; `tfpin report` joins them into the summary")
    return 0


def cmd_pins(args) -> int:
    from . import pins

    project, m, cells, ctx = load(args)
    out_dir = ctx.reports / "pins"
    if args.action == "apply":
        try:
            results = pins.load_results(out_dir, cells, ctx, project.smoke)
        except pins.StoredResultError as exc:
            raise UsageError(str(exc)) from None
    else:
        if args.jobs < 1:
            raise UsageError("--jobs must be 1 or more (got %d)" % args.jobs)
        from .envs import find_uv

        if find_uv() is None:
            raise UsageError("pins discover resolves each cell as of its release date with uv (`uv pip compile "
                             "--exclude-newer`), and no uv is installed: `pip install uv` next to tfpin")
        packages = [p.strip() for p in args.packages.split(",") if p.strip()] or None
        print("tfpin: pin discovery for %d cells of matrix %r (%d at a time); cheap oracle: pytest %s; "
              "confirmation: pytest %s" % (len(cells), m.name, min(args.jobs, len(cells)), " ".join(project.smoke),
                                          " ".join(project.test)), flush=True)
        results = discover_cells(cells, ctx, project, packages, args.jobs, out_dir)
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


def discover_cells(cells, ctx, project, packages, jobs: int, out_dir: Path):
    """Each cell's search, `jobs` at a time (threads; the work is in child processes); each result is
    written as soon as it exists. A cell's hints are its constraints in force plus the pins found for the
    cells finished before it. Returns the results in matrix order, or the exit code of an interrupt."""
    import threading

    from . import pins

    printing = threading.Lock()
    learned: list[str] = []  # pins found so far in this run: hints for the cells searched after them

    def one(i, cell):
        def log(text):
            with printing:
                print(("%s| " % cell.id if jobs > 1 else "") + text, flush=True)
        with printing:
            progress(i + 1, len(cells), cell, "discovery started")
            hints = list(dict.fromkeys(cell.constraint_lines() + learned))
        try:
            res = pins.Discovery(cell, ctx, project.smoke, log, packages, hints).run()
        except pins.DiscoveryError as exc:
            res = pins.failed(cell, ctx, project.smoke, exc)
        with printing:
            learned.extend(p["pin"] for p in res["pins"])
        write_atomic(out_dir / (cell.id + ".json"), json.dumps(res, indent=2) + "\n")
        write_atomic(out_dir / (cell.id + ".toml"), pins.cell_toml(res, cell))
        with printing:
            progress(i + 1, len(cells), cell, "%d pins, %d env builds, %.0f s%s" % (
                len(res["pins"]), res["env_builds"], res["seconds"],
                " -- " + (res["problem"] or "unavailable: " + res["unavailable"])
                if res["problem"] or res["unavailable"] else ""))
        return res

    done, stop = schedule.run(one, cells, jobs)
    if stop is not None:
        print("tfpin: pin discovery interrupted by %s; finished cells' results are in %s"
              % (stop.name, rel(out_dir, ctx)), file=sys.stderr)
        return stop.code
    return [done[i] for i in range(len(cells))]


def pins_target(project, m):
    """The matrix file holding this matrix's constraints (its base, for one that `extends`) when it belongs
    to the project, else the project's own config."""
    try:
        m.constraints_path.resolve().relative_to(project.root.resolve())
        return m.constraints_path, "[[constraints]]"
    except ValueError:
        header = "[[tool.tfpin.constraints]]" if project.source.name == "pyproject.toml" else "[[constraints]]"
        return project.source, header


def cmd_init(args) -> int:
    from . import init

    root = Path.cwd()
    existing = projects.find_config(root)
    if existing is not None and existing.parent == root:
        raise UsageError("%s already configures tfpin for %s; edit it, or delete it to start over" % (existing, root))
    text, notes = init.starter(root)
    write_atomic(root / projects.CONFIG_FILE, text)
    print("wrote %s" % (root / projects.CONFIG_FILE))
    for note in notes + init.ignore_outputs(root):
        print("  " + note)
    print("next: tfpin matrix    (or one cell first: tfpin cell py3.7-tf1.15-keras2.2.5)")
    return 0


def cmd_tox(args) -> int:
    project = projects.load()
    text = toxini.render(matrices.load(CATALOGUE), matrices.load(matrices.DEFAULT_MATRIX))
    path = project.root / "tox.ini"
    if args.check:
        if not path.exists() or path.read_text() != text:
            print("tox.ini is out of date with the built-in matrices; run `tfpin tox-ini`", file=sys.stderr)
            return 1
        print("tox.ini matches the built-in matrices")
        return 0
    write_atomic(path, text)
    print("wrote %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
