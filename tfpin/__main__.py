"""Command line: `python -m tfpin matrix|cell|bench|list|tox-ini` (nox sessions call these)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import matrix as matrices
from . import report, toxini
from .runner import ROOT, Context, rel, run_bench, run_cell, write_atomic
from .status import PASSED, UNAVAILABLE

REPORTS = ROOT / "reports"
ENVS = ROOT / ".tfpin" / "envs"
CATALOGUE = "full"  # the superset a single cell is looked up in
# What `bench` measures when no arguments follow `--`: the graph stack and Keras fit, same network.
DEFAULT_BENCH_ARGS = ("--keras-fit", "keras")


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except matrices.MatrixError as exc:
        print("tfpin: error: %s" % exc, file=sys.stderr)
        return 2


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tfpin", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp, default_matrix=matrices.DEFAULT_MATRIX):
        sp.add_argument("--matrix", default=default_matrix,
                        help="matrix name in matrices/ (%s) or a path to a .toml file (default: %s)"
                        % (", ".join(matrices.available_matrices()), default_matrix))
        sp.add_argument("--cells", default="", help="comma-separated cell ids to run (default: all)")
        sp.add_argument("--reports", type=Path, default=REPORTS, help="report directory (default: reports/)")
        sp.add_argument("--envs", type=Path, default=ENVS, help="where cell environments live (default: .tfpin/envs)")
        sp.add_argument("--log-level", type=int, choices=(0, 1, 2, 3), default=None,
                        help="TF_CPP_MIN_LOG_LEVEL inside the cells: 0 all, 1 no INFO, 2 no WARNING, 3 no ERROR")

    m = sub.add_parser("matrix", help="run every cell of a matrix and write the reports")
    common(m)
    m.add_argument("pytest_args", nargs="*", help="extra pytest arguments for the cell suite (after --)")
    m.set_defaults(func=cmd_matrix)

    c = sub.add_parser("cell", help="run one cell (looked up in the full matrix unless --matrix is given)")
    common(c, CATALOGUE)
    c.add_argument("cell_id")
    c.add_argument("pytest_args", nargs="*")
    c.set_defaults(func=cmd_cell)

    b = sub.add_parser("bench", help="measure training throughput in each cell; merged into the matrix report")
    common(b)
    b.add_argument("bench_args", nargs="*", help="extra arguments for resnet_core.bench (after --)")
    b.set_defaults(func=cmd_bench)

    rp = sub.add_parser("report", help="assemble the matrix report from reports/cells/*.json (CI fan-out)")
    common(rp)
    rp.set_defaults(func=cmd_report)

    ls = sub.add_parser("list", help="print a matrix's cells")
    common(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    t = sub.add_parser("tox-ini", help="write tox.ini from matrices/ (or --check that it is current)")
    t.add_argument("--check", action="store_true")
    t.set_defaults(func=cmd_tox)
    return p


def selected(args):
    m = matrices.load(args.matrix)
    ids = [i.strip() for i in args.cells.split(",") if i.strip()]
    return m, (m.select(ids) if ids else m.cells)


def context(args, pytest_args=()):
    return Context(args.reports, args.envs, args.log_level, pytest_args)


def report_name(m) -> str:
    return "matrix" if m.name == matrices.DEFAULT_MATRIX else "matrix-" + m.name


def progress(i, n, cell, text):
    print("[%d/%d] %-26s %s" % (i, n, cell.id, text), flush=True)


def result_line(r) -> str:
    t, d = r["tests"], r["durations"]
    if d["tests_s"]:
        counts = "%d passed, %d failed, %d skipped, %d errors" % (t["passed"], t["failed"], t["skipped"], t["errors"])
        line = "%-11s %s  setup %.1fs  tests %.1fs" % (r["status"], counts, d["setup_s"], d["tests_s"])
    else:
        line = "%-11s no tests run  setup %.1fs" % (r["status"], d["setup_s"])
    if r.get("env", {}).get("reused"):
        line += "  (env reused)"
    if r["status"] != PASSED and r["reason"]:
        line += "\n        " + r["reason"]
    return line


def run_cells(m, cells, args, pytest_args, write_report: bool) -> list[dict]:
    ctx = context(args, pytest_args)
    started, results = report.now(), []
    name = report_name(m)
    for i, cell in enumerate(cells, 1):
        progress(i, len(cells), cell, "started")
        result = run_cell(cell, ctx)
        results.append(result)
        write_atomic(ctx.reports / "cells" / (cell.id + ".json"), json.dumps(result, indent=2) + "\n")
        progress(i, len(cells), cell, result_line(result))
        if write_report:
            _write(m, cells, results, started, None, ctx.reports, name)
    if write_report:
        final = _write(m, cells, results, started, report.now(), ctx.reports, name)
        print()
        print(report.markdown(final), end="")
        print("reports: %s, %s, junit/, locks/, logs/" % (rel(ctx.reports / (name + ".json")),
                                                          rel(ctx.reports / (name + ".md"))))
    return results


def _write(m, cells, results, started, finished, reports_dir, name):
    rep = report.build(m, cells, results, started, finished, report.load_bench(reports_dir))
    report.write(rep, reports_dir, name)
    return rep


def closing_line(results) -> str:
    """Test totals over every cell, in the plain 'N passed, N failed' form CI logs are read for."""
    total = {k: sum(r["tests"][k] for r in results) for k in ("passed", "failed", "errors", "skipped")}
    return "tests: %d passed, %d failed, %d skipped" % (
        total["passed"], total["failed"] + total["errors"], total["skipped"])


def exit_code(results) -> int:
    """0 exactly when every available cell passed."""
    return 0 if all(r["status"] in (PASSED, UNAVAILABLE) for r in results) else 1


def cmd_matrix(args) -> int:
    m, cells = selected(args)
    print("tfpin: matrix %r (%s), %d cells" % (m.name, rel(m.path), len(cells)), flush=True)
    t0 = time.monotonic()
    results = run_cells(m, cells, args, args.pytest_args, write_report=True)
    print("tfpin: %d cells in %.1fs" % (len(results), time.monotonic() - t0))
    print(closing_line(results))
    return exit_code(results)


def cmd_cell(args) -> int:
    m = matrices.load(args.matrix)
    (cell,) = m.select([args.cell_id])
    results = run_cells(m, [cell], args, args.pytest_args, write_report=False)
    r = results[0]
    print("junit: %s  log: %s  lock: %s" % (r.get("junit", "-"), r.get("log", "-"),
                                            rel(args.reports / "locks" / (cell.id + ".txt"))))
    # Same rule as the matrix, so a CI job per cell agrees with the whole-matrix run.
    return exit_code(results)


def cmd_bench(args) -> int:
    m, cells = selected(args)
    ctx = context(args)
    failed = False
    for i, cell in enumerate(cells, 1):
        progress(i, len(cells), cell, "bench started")
        data = run_bench(cell, ctx, args.bench_args or DEFAULT_BENCH_ARGS)
        write_atomic(ctx.reports / "bench" / (cell.id + ".json"), json.dumps(data, indent=2) + "\n")
        if data["status"] == "measured":
            text = "%.1f img/s graph" % data["images_per_sec"]
            if data.get("keras_images_per_sec"):
                text += ", %.1f img/s keras fit" % data["keras_images_per_sec"]
        else:
            text = "%s: %s" % (data["status"], data["reason"])
            failed = failed or data["status"] != UNAVAILABLE
        progress(i, len(cells), cell, text)
    existing = ctx.reports / (report_name(m) + ".json")
    if existing.exists():
        old = json.loads(existing.read_text())
        bench = report.load_bench(ctx.reports)
        for r in old["cells"]:
            if r["id"] in bench:
                r["throughput"] = bench[r["id"]]
        report.write(old, ctx.reports, report_name(m))
        print("throughput merged into %s and %s" % (rel(existing), rel(existing.with_suffix(".md"))))
    return 1 if failed else 0


def cmd_report(args) -> int:
    """Cells run on separate runners each leave reports/cells/<id>.json; this joins them."""
    m, cells = selected(args)
    results = []
    for cell in cells:
        path = args.reports / "cells" / (cell.id + ".json")
        if path.exists():
            results.append(json.loads(path.read_text()))
    missing = len(cells) - len(results)
    started = report.now()
    rep = _write(m, cells, results, started, started if not missing else None, args.reports, report_name(m))
    print(report.markdown(rep), end="")
    if missing:
        print("tfpin: %d of %d cells have no result in %s" % (missing, len(cells), rel(args.reports / "cells")))
    return exit_code(results) if not missing else 1


def cmd_list(args) -> int:
    m, cells = selected(args)
    if args.json:
        print(json.dumps([{**c.describe(), "tox_env": c.tox_env(), "constraints": c.constraint_lines()}
                          for c in cells], indent=2))
    else:
        for c in cells:
            print("%-26s %s" % (c.id, " ".join(c.requirement_lines()[: len(c.requirements)] + c.constraint_lines())))
    return 0


def cmd_tox(args) -> int:
    text = toxini.render(matrices.load(CATALOGUE), matrices.load(matrices.DEFAULT_MATRIX))
    path = ROOT / "tox.ini"
    if args.check:
        if not path.exists() or path.read_text() != text:
            print("tox.ini is out of date with matrices/; run `python -m tfpin tox-ini`", file=sys.stderr)
            return 1
        print("tox.ini matches matrices/")
        return 0
    write_atomic(path, text)
    print("wrote %s" % rel(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
