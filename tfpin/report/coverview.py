"""The `--coverage` section of matrix.md and matrix.html, from the report's `coverage` (report/covmap.py).

Markdown: per file, how many of its statements ran in every cell, only in some, in none; then a table per file of
its ranges that ran only in some cells (with those cells) or in none. HTML: the same counts, and a heat map per
file, each source line coloured by how many cells ran it, its title naming them.
"""
from __future__ import annotations

from html import escape

from tfpin.mdtext import code, count, text

INTRO = ("The project's own lines (%s), as coverage.py measured them in each cell's suite and the processes it "
         "started, in %s. A line run only in some cells is a path some releases take and others do not; a "
         "line run in no cell is code no cell of this matrix reaches.")
COLOURS = {"all": "#dafbe1", "none": "#ffebe9"}


def _intro(cov: dict) -> str:
    return INTRO % (", ".join(cov["packages"]) or "no package found", count(len(cov["cells"]), "cell"))


def markdown(report: dict) -> list[str]:
    cov = report.get("coverage")
    if not cov:
        return []
    rows = ["", "## Coverage across cells (--coverage)", "", text(_intro(cov)), ""]
    rows += ["- %s: %s" % (code(cid, in_table=False), text(tool or "?")) for cid, tool in cov["tools"].items()]
    rows += ["", "| file | statements | run in every cell | only in some cells | in no cell |",
             "|---|--:|--:|--:|--:|"]
    for f in cov["files"]:
        rows.append("| %s | %d | %d | %d | %d |" % (code(f["path"]), f["statements"], f["everywhere"],
                                                   f["some_count"], f["none_count"]))
    t = cov["totals"]
    rows.append("| **all** | %d | %d | %d | %d |" % (t["statements"], t["everywhere"], t["some_count"],
                                                     t["none_count"]))
    for f in cov["files"]:
        if not f["some"] and not f["none"]:
            continue
        rows += ["", "### %s" % code(f["path"], in_table=False), "", "| lines | run in |", "|---|---|"]
        ranges = [(s["lines"], "only " + ", ".join(code(c) for c in s["cells"])) for s in f["some"]]
        ranges += [(lines, "no cell") for lines in f["none"]]
        rows += ["| %s | %s |" % (text(lines), where) for lines, where in sorted(ranges, key=_first_line)]
    rows += ["- %s" % text(p) for p in cov["problems"]]
    return rows


def _first_line(entry) -> int:
    return int(entry[0].split("-")[0])


def html(report: dict) -> list[str]:
    cov = report.get("coverage")
    if not cov:
        return []
    cells = cov["cells"]
    out = ["<h2>Coverage across cells</h2>", "<p class=small>%s</p>" % escape(_intro(cov)),
           "<p class=small>Each line's colour: <span style='background:%s'>run in every cell</span>, "
           "<span style='background:%s'>run in some cells</span> (darker: fewer), <span style='background:%s'>run "
           "in no cell</span>; hover a line for its cells.</p>" % (COLOURS["all"], _colour(1, 2), COLOURS["none"]),
           "<div class=scroll><table><tr><th>file</th><th>statements</th><th>every cell</th><th>some cells</th>"
           "<th>no cell</th></tr>"]
    out += ["<tr><td style='text-align:left'><code>%s</code></td><td>%d</td><td>%d</td><td>%d</td><td>%d</td></tr>" % (
        escape(f["path"]), f["statements"], f["everywhere"], f["some_count"], f["none_count"]) for f in cov["files"]]
    out.append("</table></div>")
    for f in cov["files"]:
        out += _heat(f, cells)
    out += ["<p class=small>%s</p>" % escape(p) for p in cov["problems"]]
    return out


def _heat(f: dict, cells: list[str]) -> list[str]:
    """One file's source, each statement coloured by how many cells ran it."""
    ran = {line: which for line, which in f["heat"]}
    rows = []
    for number, source in enumerate(f["source"], 1):
        which = ran.get(number)
        if which is None:
            attrs = ""
        else:
            title = "run in every cell (%d)" % len(cells) if len(which) == len(cells) else "run in no cell" \
                if not which else "run in %d of %d cells: %s" % (len(which), len(cells),
                                                                   ", ".join(cells[i] for i in which))
            attrs = " data-cells=%d title='%s' style='background:%s'" % (len(which), escape(title, quote=True),
                                                                        _colour(len(which), len(cells)))
        rows.append("<tr%s><td class=ln>%d</td><td class=src>%s</td></tr>" % (attrs, number, escape(source) or " "))
    opened = " open" if f["some"] else ""
    return ["<details%s><summary><code>%s</code>: %d only in some cells, %d in none</summary>" % (
        opened, escape(f["path"]), f["some_count"], f["none_count"]),
        "<div class=scroll><table class=heat>%s</table></div></details>" % "".join(rows)]


def _colour(k: int, n: int) -> str:
    """Green for every cell, red for none, amber in between, darker the fewer cells ran it."""
    if k >= n:
        return COLOURS["all"]
    if k == 0:
        return COLOURS["none"]
    return "hsl(45,100%%,%d%%)" % round(62 + 26 * k / n)
