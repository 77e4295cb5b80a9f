"""What the terminal shows of a run: one whole line per event, and the closing totals CI logs are read for.

The journal (matrix.json, the per-cell results) is written by the report and the runner; this is
only the console's view of it.
"""
from __future__ import annotations

from .result import CellResult


def progress(i, n, cell, text):
    print("[%d/%d] %-30s %s" % (i, n, cell.id, text), flush=True)


def result_line(r: CellResult) -> str:
    t, d = r.tests, r.durations
    if d.tests_s:
        counts = "%d passed, %d failed, %d skipped, %d errors" % (t.passed, t.failed, t.skipped, t.errors)
        line = "%-11s %s  setup %.1fs  tests %.1fs" % (r.status, counts, d.setup_s, d.tests_s)
    else:
        line = "%-11s no tests run  setup %.1fs" % (r.status, d.setup_s)
    if r.cached_from:
        line += "  (cached: verdict of %s, nothing changed since)" % r.cached_from["finished"]
    elif r.env.get("reused"):
        line += "  (env reused)"
    if r.env.get("rebuilt_because") and not r.cached_from:
        line += "  (env rebuilt: %s)" % r.env["rebuilt_because"]
    if r.status != "passed" and r.reason:
        line += "\n        " + r.reason
    return line


def closing_line(results) -> str:
    """Test totals over the cells run now, in the plain 'N passed, N failed' form CI logs are read for;
    cells whose stored verdict was re-used are counted apart, with the totals of the run they come from."""
    def totals(rs):
        return {k: sum(getattr(r.tests, k) for r in rs) for k in ("passed", "failed", "errors", "skipped")}

    ran = [r for r in results if not r.cached_from]
    reused = [r for r in results if r.cached_from]
    t = totals(ran)
    line = "tests: %d passed, %d failed, %d errors, %d skipped" % (t["passed"], t["failed"], t["errors"], t["skipped"])
    if reused:
        c = totals(reused)
        line += ("; %d cells cached (verdicts re-used, nothing changed: %d passed, %d failed, %d errors, "
                 "%d skipped when they ran; --no-cache runs them)" % (len(reused), c["passed"], c["failed"],
                                                                      c["errors"], c["skipped"]))
    return line
