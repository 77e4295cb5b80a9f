"""reports/matrix.html: the report as a page a person would rather look at than read.

One self-contained file (inline CSS and SVG, no script, no network), written beside matrix.md from
the same report dict, so it can never say something the JSON does not.  Narrow screens get one
column; every cell's failures and skips open in place (<details>), so it also reads in a CI
artifact viewer that shows a single file.
"""
from __future__ import annotations

import re
from html import escape

from tfpin.cell import bench
from tfpin.cell.status import ERROR, FAILED, INTERRUPTED, MISSING, NOT_RUN, PASSED, UNAVAILABLE
from tfpin.report import coverview
from tfpin.report.crossview import first_step_text, grid_entry
from tfpin.report.markdown import (
    BESIDE_STOCK_INTRO,
    PASSED_ENV_INTRO,
    SETUP_INTRO,
    passed_env,
    setup_rows,
    version_text,
)

STATUS_COLOURS = {PASSED: "#1a7f37", FAILED: "#cf222e", ERROR: "#bc4c00", UNAVAILABLE: "#6e7781",
                  MISSING: "#8250df", INTERRUPTED: "#9a6700", NOT_RUN: "#6e7781"}
CURVE_COLOURS = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bc4c00", "#0598bc", "#bf3989", "#6e7781")
CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:12px;color:#1f2328;
 max-width:1100px}
h1{font-size:1.35em;margin:.2em 0}h2{font-size:1.1em;margin:1.4em 0 .5em;border-bottom:1px solid #d0d7de}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:8px}
.cell{border:1px solid #d0d7de;border-left:6px solid var(--c);border-radius:6px;padding:6px 8px}
.cell b{font-family:ui-monospace,monospace;font-size:.9em;word-break:break-all}
.st{color:var(--c);font-weight:600}.small{font-size:.85em;color:#57606a}
details{margin-top:4px}summary{cursor:pointer}
pre,code{font-family:ui-monospace,monospace;font-size:.85em}
pre{background:#f6f8fa;padding:8px;white-space:pre-wrap;overflow-wrap:anywhere}
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.85em}
td,th{border:1px solid #d0d7de;padding:3px 6px;text-align:right;white-space:nowrap}th{background:#f6f8fa}
td.ok{background:#dafbe1}td.warn{background:#fff8c5}td.bad{background:#ffebe9;text-align:center}
svg{max-width:100%;height:auto}
table.heat td{border:0;padding:0 6px;text-align:left;font-family:ui-monospace,monospace;white-space:pre}
table.heat td.ln{color:#57606a;text-align:right;user-select:none}
"""


def render(report: dict) -> str:
    parts = ["<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
             "<meta name=viewport content='width=device-width, initial-scale=1'>",
             "<title>tfpin matrix %s</title><style>%s</style></head><body>" % (escape(report["matrix"]), CSS),
             "<h1>tfpin matrix <code>%s</code></h1>" % escape(report["matrix"]),
             "<p class=small>%s. Started %s, %s.</p>" % (
                 escape(report.get("description") or report["matrix_file"]), escape(report["started"]),
                 "finished " + escape(report["finished"]) if report["finished"] else "<b>not finished</b>")]
    parts += _recommendation(report["recommendation"], report.get("partial"))
    parts += _cells(report)
    parts += _beside_stock(report.get("beside_stock") or [])
    cross = report.get("cross") or {}
    if "readers" in cross:
        parts += _heatmaps(cross)
    elif cross.get("skipped"):
        parts.append("<h2>Between cells</h2><p>Not checked: %s.</p>" % escape(cross["skipped"]))
    parts += coverview.html(report)
    parts += _census(report.get("census"))
    parts += _pins(report.get("pins", []))
    parts += _setup_time(report)
    names = passed_env(report)
    if names:
        parts.append("<h2>Host variables</h2><p class=small>%s</p><p>%s</p>" % (
            escape(PASSED_ENV_INTRO), ", ".join("<code>%s</code>" % escape(n) for n in names)))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _recommendation(rec, partial):
    out = ["<h2>Recommended pin%s</h2>" % (" (partial evidence)" if partial else "")]
    if rec["requirements"]:
        out += ["<p>%s.</p>" % escape(rec["summary"]), "<pre>%s</pre>" % escape("\n".join(rec["constraints"]))]
        if rec.get("known_residual"):
            out.append("<p class=small>Known residual (failures these pins knowingly leave open):</p><ul class=small>")
            for leave in rec["known_residual"]:
                only = "" if len(leave["cells"]) == len(rec["cells"]) else " (only %s)" % ", ".join(
                    "<code>%s</code>" % escape(c) for c in leave["cells"])
                out.append("<li><code>%s</code>%s: %s</li>" % (escape(leave["pin"]), only, _residual(leave)))
            out.append("</ul>")
    else:
        out.append("<p>None: %s.</p>" % escape(rec["summary"]))
    for x in rec.get("rejected_newer") or []:
        pair = ", ".join("%s %s" % kv for kv in x["requirements"].items())
        out.append("<p class=small>Not recommended: %s: %s</p>" % (escape(pair), escape(x["why"])))
    return out


def _cells(report):
    """A card per cell: its status, counts and times, the versions of the report's own columns, its bench figures
    (each with its name), and why it did not pass."""
    out = ["<h2>Cells</h2><div class=grid>"]
    for r in report["cells"]:
        t, d = r["tests"], r["durations"]
        colour = STATUS_COLOURS.get(r["status"], "#57606a")
        body = ["<div class=cell style='--c:%s' id='cell-%s'><b>%s</b><br>" % (colour, escape(r["id"]),
                                                                                   escape(r["id"])),
                "<span class=st>%s</span> <span class=small>%d passed, %d failed, %d errors, %d skipped; "
                "setup %.1f s, tests %.1f s</span>" % (escape(r["status"]), t["passed"], t["failed"], t["errors"],
                                                      t["skipped"], d["setup_s"], d["tests_s"])]
        if r.get("cached_from"):
            body.append("<br><span class=small>cached: the verdict of %s (tests %.1f s), nothing changed since"
                        "</span>" % (escape(r["cached_from"]["finished"]), r["cached_from"]["tests_s"]))
        for note in r.get("notes") or []:
            body.append("<br><span class=small>%s</span>" % escape(note))
        versions = [(c["name"], version_text(r, c)) for c in report["version_columns"]]
        if any(version for _, version in versions):
            body.append("<br><span class=small>%s</span>" % escape(", ".join(
                "%s %s" % (name, version) for name, version in versions if version)))
        if bench.measured(r.get("bench")):
            body.append("<br><span class=small>%s</span>" % escape(bench.describe(r["bench"])))
        if r.get("reason"):
            body.append("<details open><summary>why</summary><pre>%s</pre></details>" % escape(r["reason"]))
        if r.get("failing"):
            body.append("<details><summary>%d failing</summary><pre>%s</pre></details>" % (
                len(r["failing"]), escape("\n".join(r["failing"]))))
        if r.get("skips"):
            body.append("<details><summary>%d skipped, with reasons</summary><pre>%s</pre></details>" % (
                len(r["skips"]), escape("\n".join("%s: %s" % kv for kv in sorted(r["skips"].items())))))
        out.append("".join(body) + "</div>")
    return out + ["</div>"]


def _setup_time(report):
    steps, ran = setup_rows(report)
    if not ran:
        return []
    out = ["<h2>Set-up time</h2><p class=small>%s</p><div class=scroll><table><tr><th>cell</th>%s<th>set-up s</th>"
           "<th>set-up CPU s</th><th>tests CPU s</th><th>cores set-up / tests</th></tr>" % (
               escape(SETUP_INTRO), "".join("<th>%s</th>" % escape(s) for s in steps))]
    for r in ran:
        out.append("<tr><td><code>%s</code></td>%s<td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%s</td></tr>" % (
            escape(r["id"]), "".join("<td>%s</td>" % v for v in r["steps"]),
            r["setup_s"], r["setup_cpu_s"], r["tests_cpu_s"], escape(r["cores"])))
    return out + ["</table></div>"]


def _beside_stock(rows):
    if not rows:
        return []
    out = ["<h2>Beside the stock build</h2><p class=small>%s.</p><div class=scroll><table><tr><th>cell</th>"
           "<th>figure</th><th>value</th><th>stock cell</th><th>value</th><th>ratio</th></tr>"
           % _with_code(BESIDE_STOCK_INTRO)]
    for b in rows:
        ratio = "%.2f&times;" % b["ratio"] if b.get("ratio") is not None else \
            "<span class=small>not compared: %s</span>" % escape(b.get("not_comparable", ""))
        out.append("<tr><td><code>%s</code></td><td>%s</td><td>%s</td><td><code>%s</code></td><td>%s</td><td>%s</td>"
                   "</tr>" % (escape(b["cell"]), escape(b["figure"]), bench.number(b["value"]),
                              escape(b["stock_cell"]), bench.number(b["stock_value"]), ratio))
    return out + ["</table></div>"]


def _with_code(text):
    """A sentence matrix.md also shows, its `code` spans as <code>: one wording for both views."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


def _heatmaps(cross):
    ids = cross["cells"]
    legend = "<p class=small>%s</p>" % "; ".join("c%d <code>%s</code>" % (i, escape(c)) for i, c in enumerate(ids, 1))
    out = ["<h2>Between cells</h2>",
           "<p class=small>Each reader test ran in every passed cell (column) on what every cell wrote (row). The "
           "number is the first value the pair recorded (e.g. a difference against the writer's own result); ✗: "
           "the pair fails (hover for the error); –: not written there.</p>", legend]
    out += ["<p class=bad>error: %s</p>" % escape(line) for line in cross["errors"]]
    for reader in cross["readers"]:
        pairs = {(p["from"], p["to"]): p for p in cross["pairs"] if p["reader"] == reader["reader"]}
        writers = [c for c in ids if any(w == c for w, _ in pairs)]
        out.append("<h3><code>%s</code> <span class=small>reads %s: %d of %d pairs pass</span></h3><div class=scroll>"
                   "<table><tr><th>from \\ to</th>%s</tr>" % (
                       escape(reader["reader"]), escape(", ".join(reader["reads"]) or "-"), reader["passed"],
                       reader["pairs"] - reader["not_written"],
                       "".join("<th>c%d</th>" % i for i in range(1, len(ids) + 1))))
        for a in writers:
            row = ["<tr><th title='%s'>c%d</th>" % (escape(a), ids.index(a) + 1)]
            for b in ids:
                p = pairs.get((a, b))
                shown = grid_entry(p)
                if p is None or p["outcome"] == "skipped":
                    row.append("<td title='%s'>%s</td>" % (escape(p["error"] if p else "not read"), shown))
                elif p["outcome"] == "passed":
                    row.append("<td class=ok>%s</td>" % escape(shown))
                else:
                    row.append("<td class=bad title='%s'>✗</td>" % escape(p["error"] or p["outcome"]))
            out.append("".join(row) + "</tr>")
        out.append("</table></div>")
        failed = sorted({"%s -> %s: %s" % (p["from"], p["to"], p["error"]) for p in pairs.values()
                         if p["outcome"] not in ("passed", "skipped")})
        if failed:
            out.append("<details><summary>%d failing pairs</summary><pre>%s</pre></details>" % (
                len(failed), escape("\n".join(failed))))
    if cross["drift"]:
        rows = "".join("<tr><td><code>%s</code></td><td>%s</td><td>c%d, c%d</td><td>%s</td></tr>" % (
            escape(d["reader"]), escape(d["key"]), ids.index(d["a"]) + 1, ids.index(d["b"]) + 1,
            "NaN/inf: " + escape(", ".join(d["non_finite"])) if d.get("non_finite") else
            "-" if d["max_abs_diff"] is None else "%.1e" % d["max_abs_diff"]) for d in cross["drift"])
        out.append("<details><summary>numeric drift: the same writer's artifact read in two cells</summary><div "
                   "class=scroll><table><tr><th>reader</th><th>value</th><th>cells</th><th>max |Δ|</th></tr>%s"
                   "</table></div></details>" % rows)
    for series, per_cell in sorted(cross["curves"].items()):
        out += _curves(series, per_cell, [d for d in cross["series_drift"] if d["series"] == series],
                       cross["drift_threshold"])
    return out


def _curves(series, curves, drift, threshold, width=640, height=260, pad=36):
    values = [v for losses in curves.values() for v in losses if v is not None]  # None: NaN/inf (json_safe)
    if not values:
        return []
    top, bottom = max(values), min(values)
    steps = max(len(c) for c in curves.values())
    span = (top - bottom) or 1.0

    def point(i, v):
        return "%.1f,%.1f" % (pad + (width - 2 * pad) * i / max(steps - 1, 1),
                              height - pad - (height - 2 * pad) * (v - bottom) / span)

    out = ["<h3><code>%s</code>, as every cell's writer recorded it</h3>" % escape(series),
           "<svg viewBox='0 0 %d %d' role=img aria-label='%s curves'>" % (width, height, escape(series)),
           "<rect x=%d y=%d width=%d height=%d fill=none stroke='#d0d7de'/>" % (pad, pad, width - 2 * pad,
                                                                             height - 2 * pad),
           "<text x=4 y=%d font-size=11>%.2f</text><text x=4 y=%d font-size=11>%.2f</text>" % (
               pad + 4, top, height - pad, bottom),
           "<text x=%d y=%d font-size=11>step %d</text>" % (width - pad - 40, height - 8, steps)]
    legend = []
    for n, (cid, losses) in enumerate(sorted(curves.items())):
        colour = CURVE_COLOURS[n % len(CURVE_COLOURS)]
        out.append("<polyline fill=none stroke='%s' stroke-width=1.5 points='%s'><title>%s</title></polyline>" % (
            colour, " ".join(point(i, v) for i, v in enumerate(losses) if v is not None), escape(cid)))
        legend.append("<span style='color:%s'>&#9632;</span> <code>%s</code>" % (colour, escape(cid)))
    out.append("</svg><p class=small>%s</p>" % "<br>".join(legend))
    rows = ["<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
        escape(r["a"]), escape(r["b"]), "-" if r["max_abs_diff"] is None else "%.1e" % r["max_abs_diff"],
        escape(first_step_text(r, {}))) for r in drift]
    if rows:
        out.append("<details><summary>pairwise divergence (first step over %g)</summary><div class=scroll><table>"
                   "<tr><th>cell</th><th>cell</th><th>max |Δ|</th><th>first step over</th></tr>%s</table>"
                   "</div></details>" % (threshold, "".join(rows)))
    return out


def _census(census):
    """The census as a table, oldest notice first (what the next releases remove first)."""
    if not census:
        return []
    out = ["<h2>Deprecation census</h2><p class=small>The project's own call sites that TensorFlow or Python warned "
           "about while the suite ran, oldest first. Per cell: %s.</p>" % escape(", ".join(
               "%s %d" % (cid, n) for cid, n in census["per_cell"].items()))]
    if not census["sites"]:
        return out + ["<p>None: no deprecated API is called from the project's code on these releases.</p>"]
    out.append("<div class=scroll><table><tr><th>call site</th><th>API</th><th>first on</th>%s<th>instructions</th>"
               "</tr>" % "".join("<th>%s</th>" % escape(r) for r in census["releases"]))
    for s in census["sites"]:
        marks = "".join("<td class=warn>warns</td>" if r in s["releases"] else "<td></td>" for r in census["releases"])
        out.append("<tr><td><code>%s</code></td><td>%s</td><td>%s</td>%s<td>%s</td></tr>" % (
            escape(s["site"]), escape(s["api"]), escape(s["first_release"]), marks, escape(s["instructions"])))
    return out + ["</table></div>"]


def _pins(pins):
    if not pins:
        return []
    out = ["<h2>Pins</h2><div class=scroll><table><tr><th>pin</th><th>why</th><th>cells</th><th>by</th></tr>"]
    for p in pins:
        out.append("<tr><td><code>%s</code></td><td style='text-align:left'>%s</td><td>%d</td><td>%s</td></tr>" % (
            escape(p["pin"]), escape(p["reason"]), len(p["cells"]),
            "discovery" if p["origin"] == "discovered" else "a person"))
        for leave in p.get("leaves") or []:  # under its pin: what it knowingly leaves open (matrix `leaves`)
            out.append("<tr><td class=small>&#8627; known residual</td><td style='text-align:left;white-space:normal'>"
                       "%s</td><td>%d</td><td></td></tr>" % (_residual(leave), len(leave["cells"])))
    return out + ["</table></div>"]


def _residual(leave):
    """A known residual: the failure, then the pin a user could add to close it and why tfpin does not."""
    failure = escape(leave["failure"].rstrip("."))
    if leave.get("opt_in"):
        return "%s. Opt-in pin: <code>%s</code>; tfpin does not add it: %s" % (
            failure, escape(leave["opt_in"]), escape(leave["why_not"]))
    return "%s. No opt-in pin: %s" % (failure, escape(leave["why_not"]))
