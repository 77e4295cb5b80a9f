"""matrix.md: the report as a pull request or a CI job summary shows it.

Every string that did not come from tfpin itself goes through mdtext.text() or mdtext.code(), so a
failure message can never add a heading, a link, HTML or a table row.
"""
from __future__ import annotations

from tfpin.cell import bench
from tfpin.cell.status import PASSED
from tfpin.mdtext import code, text
from tfpin.report import coverview

# The cell table's own columns; the version and bench columns after them are the report's (report.build).
CELL_COLUMNS = ("cell", "status", "passed", "failed", "errors", "skipped", "setup s", "tests s")


def render(report: dict) -> str:
    """matrix.md, section by section. Every string a test, an installer or a cell produced goes through mdtext."""
    rows = []
    for section in (cells_table, migration_markdown_of, not_passed, flaky_tests, floors, off_table, beside_stock,
                    pins_table,
                    between_cells, coverview.markdown, setup_time, passed_env_lines, recommendation):
        rows += section(report)
    return "\n".join(rows) + "\n"


def cells_table(report: dict) -> list[str]:
    """The title, the run's times and one row per cell (and per planned cell that did not run): its counts and
    times, the versions of the report's own columns and, where any cell has bench figures, its figures."""
    versions, header = report["version_columns"], report["bench_column"]
    names = [*CELL_COLUMNS, *(c["name"] for c in versions), *([header] if header else [])]
    rows = [
        "# tfpin matrix %s" % code(report["matrix"], in_table=False),
        "",
        "%s. Started %s, %s." % (
            report["description"] or report["matrix_file"], report["started"],
            "finished " + report["finished"] if report["finished"] else
            "**interrupted**" if report.get("interrupted") else "**still running or interrupted**"),
        "",
        _row(text(name) for name in names),
        _row(["---", "---", *("--:" for _ in CELL_COLUMNS[2:]), *("---" for _ in versions),
              *(["--:"] if header else [])]),
    ]
    for r in report["cells"]:
        t, d = r["tests"], r["durations"]
        shown = r["status"] + (" (cached)" if r.get("cached_from") else "")
        rows.append(_row([code(r["id"]), shown, t["passed"], t["failed"], t["errors"], t["skipped"],
                          "%.1f" % d["setup_s"], "%.1f" % d["tests_s"],
                          *(text(version_text(r, c)) for c in versions),
                          *([text(bench.cell_text(r.get("bench"), header))] if header else [])]))
    missing = [c for c in report["cells_planned"] if c not in {r["id"] for r in report["cells"]}]
    for cid in missing:
        rows.append(_row([code(cid), "not run", *("" for _ in names[2:])]))
    return rows


def _row(cells) -> str:
    """One table row; empty cells stay empty, so a row has as many cells as the header."""
    return "|%s|" % "|".join(" %s " % c if c != "" else " " for c in cells)


STEPS = ("create", "install", "reinstall", "probe", "freeze", "imports")
SETUP_INTRO = ("Seconds per step of each cell that ran; CPU seconds of its processes, and the cores each phase kept "
               "busy (mean runnable threads), which the next run schedules by.")


def setup_rows(report: dict) -> tuple[list[str], list[dict]]:
    """Where each cell's set-up went, step by step, and the cores each phase kept busy (what the next run
    schedules by): only for the cells that ran in this run (a re-used verdict built nothing). The steps any
    of them took, and one row each, its step seconds already written out; matrix.md and matrix.html both
    show these."""
    ran = [r for r in report["cells"] if not r.get("cached_from") and r["durations"].get("steps")]
    steps = [s for s in STEPS if any(s in r["durations"]["steps"] for r in ran)]
    rows = []
    for r in ran:
        d = r["durations"]
        rows.append({"id": r["id"], "steps": ["%.1f" % d["steps"][s] if s in d["steps"] else "" for s in steps],
                     "setup_s": d["setup_s"],
                     "setup_cpu_s": d.get("setup_cpu_s", 0.0), "tests_cpu_s": d.get("tests_cpu_s", 0.0),
                     "cores": "%s / %s" % (_cores(d.get("setup_demand")), _cores(d.get("tests_demand")))})
    return steps, rows


def setup_time(report: dict) -> list[str]:
    steps, ran = setup_rows(report)
    if not ran:
        return []
    rows = ["", "## Set-up time", "", SETUP_INTRO, "",
            "| cell | %s | set-up s | set-up CPU s | tests CPU s | cores set-up / tests |" % " | ".join(steps),
            "|---|%s--:|--:|--:|---|" % "".join("--:|" for _ in steps)]
    for r in ran:
        rows.append("| %s | %s | %.1f | %.1f | %.1f | %s |" % (
            code(r["id"]), " | ".join(r["steps"]),
            r["setup_s"], r["setup_cpu_s"], r["tests_cpu_s"], r["cores"]))
    return rows


PASSED_ENV_INTRO = ("The host variables the cells saw, by name (their values are in each verdict's key); every other "
                    "host variable is unset in a cell. A project adds its own with `pass_env`.")


def passed_env(report: dict) -> list[str]:
    """The names of the host variables any cell of the report saw (tfpin/environ.py), sorted."""
    return sorted({name for r in report["cells"] for name in r.get("passed_env") or ()})


def passed_env_lines(report: dict) -> list[str]:
    names = passed_env(report)
    return ["", "## Host variables", "", PASSED_ENV_INTRO, "", ", ".join(code(n) for n in names)] if names else []


def _cores(value) -> str:
    return "%.2f" % value if value is not None else ""


def migration_markdown_of(report: dict) -> list[str]:
    """A migration matrix's cost per cell (empty for other matrices)."""
    return migration_markdown(report["migration"]) if report.get("migration") else []


def not_passed(report: dict) -> list[str]:
    """Each cell that did not pass, with its reason."""
    rows = []
    notes = [r for r in report["cells"] if r["status"] != PASSED]
    if notes:
        rows += ["", "## Cells that did not pass", ""]
        for r in notes:
            rows.append("- %s **%s**: %s" % (code(r["id"], in_table=False), r["status"], text(r["reason"])))
    return rows


def flaky_tests(report: dict) -> list[str]:
    """--retries: each test that failed and then passed when run again alone, per cell, with every attempt; and the
    retried tests that failed every time."""
    rows: list[str] = []
    for r in report["cells"]:
        for retried in r.get("retries") or []:
            if not rows:
                rows += ["", "## Tests run again (--retries)", "",
                         "Flaky: failed, then passed when run again alone in a fresh pytest of the same cell; counted "
                         "apart, not a failure. Failed: failed every attempt.", ""]
            attempts = "; ".join("%d %s%s" % (n, a["outcome"], ": " + a["error"] if a.get("error") else "")
                                 for n, a in enumerate(retried["attempts"], 1))
            rows.append("- %s %s **%s**: %s" % (code(r["id"], in_table=False), code(retried["test"], in_table=False),
                                               "flaky" if retried["flaky"] else "failed", text(attempts)))
    return rows


def floors(report: dict) -> list[str]:
    """--floors: per install line and cell, whether the lowest release the line allows passes the suite."""
    found = report.get("floors")
    if found is None:
        return []
    rows = ["", "## Floors of the install lines (--floors)", "",
            "Each line's lowest allowed release (uv's lowest-direct resolution, with the cell's pins), run through the "
            "suite; a floor that fails is bisected to the lowest release that passes.", ""]
    lines = [(f["cell"], e) for f in found for e in f["lines"]]
    if lines:
        rows += ["| install line | cell | floor | verdict | lowest passing |", "|---|---|---|---|---|"]
    for cell_id, e in lines:
        verdict = "holds" if e["holds"] else "breaks: %s" % text(e.get("error") or "")
        line = code(e["line"]) + (" (%s)" % text(e["from"]) if e.get("from", "install line") != "install line" else "")
        rows.append("| %s | %s | %s | %s | %s |" % (line, code(cell_id), text(e["floor"] or "-"), verdict,
                                                   text(e.get("lowest_passing") or ("-" if e["holds"] else "none"))))
    for f in found:
        if f["problem"]:
            rows.append("- %s: %s" % (code(f["cell"], in_table=False), text(f["problem"])))
    if not lines and not any(f["problem"] for f in found):
        rows.append("No install line, and no requirement of the project's own tree, names a lower bound: nothing to "
                    "check.")
    return rows


def off_table(report: dict) -> list[str]:
    """Pairs the user's table does not list, where the matrix overlaps the table."""
    rows = []
    off = [p for p in report.get("pairs", []) if not p["in_table"]]
    if off and any(p["in_table"] for p in report.get("pairs", [])):  # only where the matrix overlaps the table
        rows += ["", "## Off-table pairs", "", "Pairs the user's table does not list, judged on every Python run:", ""]
        for p in off:
            cells = ", ".join("%s %s" % (code(cid, in_table=False), status) for cid, status in p["cells"].items())
            pair = ", ".join("%s %s" % kv for kv in p["requirements"].items())
            line = "- %s: **%s** (%s)" % (pair, p["verdict"], cells)
            if p["failing"]:
                line += "; failing: " + ", ".join(text(t) for t in p["failing"][:8]) + (
                    " ..." if len(p["failing"]) > 8 else "")
            rows.append(line)
    return rows


BESIDE_STOCK_INTRO = ("The headline bench figure (`tfpin bench`) of each other build (a package that `pins_as` "
                      "another) next to the stock build of the same release")


def beside_stock(report: dict) -> list[str]:
    """The headline figure of other builds next to the stock build's (tfpin bench)."""
    rows = []
    if report.get("beside_stock"):
        rows += ["", "## Beside the stock build", "", BESIDE_STOCK_INTRO + ":", "",
                 "| cell | figure | value | stock cell | value | ratio |", "|---|---|--:|---|--:|--:|"]
        for b in report["beside_stock"]:
            ratio = "%.2fx" % b["ratio"] if b["ratio"] is not None else "not compared: " + text(b["not_comparable"])
            rows.append("| %s | %s | %s | %s | %s | %s |" % (
                code(b["cell"]), text(b["figure"]), bench.number(b["value"]), code(b["stock_cell"]),
                bench.number(b["stock_value"]), ratio))
    return rows


def pins_table(report: dict) -> list[str]:
    """The pins in force, why, where, and what they knowingly leave open."""
    rows = []
    pins = report.get("pins", [])
    if pins:
        rows += ["", "## Pins", "", "| pin | why (the failure measured without it) | cells | added by |",
                 "|---|---|---|---|"]
        planned = len(report["cells_planned"])
        for p in pins:
            where = "all %d" % planned if len(p["cells"]) == planned else ", ".join(code(c) for c in p["cells"])
            rows.append("| %s | %s | %s | %s |" % (code(p["pin"]), text(p["reason"]), where,
                                               "discovery" if p["origin"] == "discovered" else "a person"))
            for leave in p.get("leaves") or []:  # under its pin: what it knowingly leaves open (matrix `leaves`)
                cells = "all %d" % planned if len(leave["cells"]) == planned else ", ".join(
                    code(c) for c in leave["cells"])
                rows.append("| ↳ known residual | %s | %s | |" % (residual_markdown(leave), cells))
    return rows


def between_cells(report: dict) -> list[str]:
    """The cross-cell verdicts and the deprecation census."""
    rows = []
    if report.get("cross"):
        from tfpin.report.crossview import markdown as cross_markdown

        rows += cross_markdown(report["cross"])
    if report.get("census"):
        from tfpin.report.census import markdown as census_markdown

        rows += census_markdown(report["census"])
    return rows


def recommendation(report: dict) -> list[str]:
    """The recommended pin lines, their known residual, and the newer choices refused."""
    rows = []
    rec = report["recommendation"]
    rows += ["", "## Recommended pin" + (" (partial evidence)" if report.get("partial") else ""), ""]
    if rec["requirements"]:
        # requirement lines tfpin wrote from the matrix's pins (no backticks): raw, to copy from the fence
        rows += ["%s." % text(rec["summary"]), "", "```", *rec["constraints"], "```"]
        if rec.get("known_residual"):
            rows += ["", "Known residual (failures these pins knowingly leave open):", ""]
            for leave in rec["known_residual"]:
                only = "" if len(leave["cells"]) == len(rec["cells"]) else " (only %s)" % ", ".join(
                    code(c, in_table=False) for c in leave["cells"])
                rows.append("- %s%s: %s" % (code(leave["pin"], in_table=False), only,
                                            residual_markdown(leave, in_table=False)))
    else:
        rows.append("None: %s." % text(rec["summary"]))
    if rec["rejected_newer"]:
        rows += ["", "Newer choices not recommended:", ""]
        rows += ["- %s: %s" % (", ".join("%s %s" % kv for kv in x["requirements"].items()), text(x["why"]))
                 for x in rec["rejected_newer"]]
    return rows


def residual_markdown(leave: dict, in_table: bool = True) -> str:
    """A known residual as one line: the failure, then the pin a user could add and why tfpin does not."""
    failure = text(leave["failure"]).rstrip(".")
    if leave.get("opt_in"):
        return "%s. Opt-in pin: %s; tfpin does not add it: %s" % (failure, code(leave["opt_in"], in_table),
                                                                  text(leave["why_not"]))
    return "%s. No opt-in pin: %s" % (failure, text(leave["why_not"]))


def migration_markdown(cost: list[dict]) -> list[str]:
    rows = ["", "## Migration cost", "",
            "What moving the suite to each release costs: tests that fail there, tests that cannot apply (and "
            "why), and what its tests report they needed.", ""]
    for c in cost:
        rows.append("### %s: %s" % (code(c["cell"], in_table=False), c["status"]))
        rows.append("")
        if c["failing"]:
            rows.append("- fails (%d): %s" % (len(c["failing"]), ", ".join(code(t, in_table=False)
                                                                           for t in c["failing"][:12])
                                               + (" ..." if len(c["failing"]) > 12 else "")))
        elif c["status"] != PASSED and c["reason"]:
            rows.append("- %s" % text(c["reason"]))
        for reason, count in c["skipped"]:
            rows.append("- skipped %d: %s" % (count, text(reason)))
        for note in c["notes"]:
            rows.append("- %s" % text(note))
        if not (c["failing"] or c["skipped"] or c["notes"]) and c["status"] == PASSED:
            rows.append("- nothing: every test passed unchanged")
        rows.append("")
    return rows


def version_text(r: dict, column: dict) -> str:
    """The version a cell's env had of a column's package, naming the build when it is another (`pins_as`, e.g.
    "1.15.2 (intel-tensorflow)"); the cell's pin when nothing was recorded (no env was built)."""
    res, pins = r.get("resolved", {}), r["requirements"]
    for build in column["builds"]:
        version = res.get(build) or pins.get(build)
        if version:
            return "%s (%s)" % (version, build)
    return res.get(column["name"]) or pins.get(column["name"], "")
