"""The console: every view of the event stream (tfpin/events.py), owned by the command line.

- a plain log (pipes, CI): one whole line per event, and a heartbeat per running cell every TFPIN_HEARTBEAT_S
  seconds (default 30) so a long suite is never silent;
- a terminal: the same lines, with the running cells in a live region redrawn in place (rich);
- `-v`: every running cell's pytest output as it is written, prefixed with the cell id;
- `-q`: no progress: the cells' verdicts, what the command answers, problems and the closing summary only;
- GitHub Actions: each finished cell's log folded into a `::group::`, and its failing tests as `::error`
  annotations on the pull request's diff.
The closing summary is made for a terminal: a short table of the cells, the failures and the recommended pin,
and where the full report is; the report files are the journal, written apart from this.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from tfpin import environ, events
from tfpin.cell import junit
from tfpin.cell.result import CellResult
from tfpin.cell.status import PASSED, UNAVAILABLE
from tfpin.mdtext import count

VIEWS = ("quiet", "normal", "verbose")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return "%dm%02ds" % divmod(seconds, 60) if seconds >= 60 else "%ds" % seconds


class _Running:
    """One running cell as the live views show it."""

    def __init__(self, event: events.CellStarted):
        self.index, self.total, self.cell_id = event.index, event.total, event.cell_id
        self.expected_s = event.expected_s
        self.started = self.last_beat = time.monotonic()
        self.tests_started: float | None = None  # when its pytest reported the first test: the pace counts from there
        self.state = events.TestsProgressed(event.cell_id)

    def line(self) -> str:
        """'[3/8] <cell>  120/362 tests  1m35s  ETA ~1m50s (last run 3m30s)  now: <test>'."""
        now = time.monotonic()
        elapsed, state = now - self.started, self.state
        head = "[%d/%d] %-30s" % (self.index, self.total, self.cell_id)
        if state.collected is None:
            return "%s setting up (its environment)  %s" % (head, _duration(elapsed))
        self.tests_started = self.tests_started or now
        testing = now - self.tests_started
        eta = ""
        if self.expected_s:
            eta = "  ETA ~%s (last run %s)" % (_duration(max(self.expected_s - testing, 0)), _duration(self.expected_s))
        elif state.done and state.collected and testing:
            eta = "  ETA ~%s (from its pace)" % _duration(testing / state.done * (state.collected - state.done))
        return "%s %d/%d tests  %s%s  now: %s" % (head, state.done, state.collected, _duration(elapsed), eta,
                                                  state.test)


class Console:
    """The one place tfpin writes to the terminal; `emit` may be called from any thread."""

    def __init__(self, view: str = "normal", out=None, err=None, tty: bool | None = None):
        if view not in VIEWS:
            raise ValueError("view must be one of %s, got %r" % (", ".join(VIEWS), view))
        self.view = view
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.tty = self.out.isatty() if tty is None else tty
        self.github = os.environ.get("GITHUB_ACTIONS") == "true"
        self._heartbeat: float | None = None
        self.running: dict[str, _Running] = {}
        self.lock = threading.RLock()
        self.live: Any = None  # rich's Live region, while cells run on a terminal in the normal view

    @property
    def heartbeat(self) -> float:
        """Read when first needed: the CLI makes the console before inputs.load has checked the variable."""
        if self._heartbeat is None:
            self._heartbeat = environ.seconds("TFPIN_HEARTBEAT_S")
        return self._heartbeat

    @property
    def quiet(self) -> bool:
        return self.view == "quiet"

    def emit(self, event: events.Event) -> None:
        with self.lock:
            getattr(self, "_" + type(event).__name__)(event)

    # -- one handler per event type ----------------------------------------------------------------------------
    def _Info(self, e: events.Info) -> None:
        if not self.quiet:
            self._line("tfpin: " + e.text)

    def _Problem(self, e: events.Problem) -> None:
        self._line("tfpin: " + e.text, self.err)

    def _Output(self, e: events.Output) -> None:
        self._line(e.text)

    def _StepFinished(self, e: events.StepFinished) -> None:
        if not self.quiet:
            self._line("tfpin: " + e.text)

    def _CellsStarting(self, e: events.CellsStarting) -> None:
        if self.tty and self.view == "normal" and self.live is None:
            from rich.console import Console as RichConsole
            from rich.live import Live

            self.live = Live("", console=RichConsole(file=self.out), auto_refresh=False, transient=True,
                             redirect_stdout=True, redirect_stderr=True)
            self.live.start()

    def _CellsDone(self, e: events.CellsDone) -> None:
        self.running.clear()
        if self.live is not None:
            self.live.stop()
            self.live = None

    def _CellStarted(self, e: events.CellStarted) -> None:
        if not self.quiet:
            self._cell_line(e.index, e.total, e.cell_id, e.text)
        if e.progress is not None:
            self.running[e.cell_id] = _Running(e)

    def _CellNote(self, e: events.CellNote) -> None:
        if self.quiet:
            return
        if e.detail:
            self._line("%s| %s" % (e.cell_id, e.text))
        else:
            self._cell_line(e.index, e.total, e.cell_id, e.text)

    def _TestsProgressed(self, e: events.TestsProgressed) -> None:
        running = self.running.get(e.cell_id)
        if running is None:
            return
        running.state = e
        if self.live is not None:
            from rich.text import Text

            self.live.update(Text("\n".join(r.line() for r in self.running.values())), refresh=True)
        elif self.view == "normal":
            now = time.monotonic()
            if now - running.last_beat >= self.heartbeat:
                running.last_beat = now
                self._line(running.line())

    def _LogLines(self, e: events.LogLines) -> None:
        if self.view == "verbose":
            for line in e.lines:
                self._line("[%s] %s" % (e.cell_id, line))

    def _CellFinished(self, e: events.CellFinished) -> None:
        self.running.pop(e.cell_id, None)
        if self.github and e.log is not None and not self.quiet:  # the log, folded, then its verdict
            self._group(e.cell_id, e.log)
        self._cell_line(e.index, e.total, e.cell_id, e.text or result_line(e.result))
        if self.github and e.result is not None:
            for line in github_annotations(e.result, e.root):
                self._line(line)

    def _Totals(self, e: events.Totals) -> None:
        self._line(closing_line(e.results))

    def _Summary(self, e: events.Summary) -> None:
        self._line("")
        self._print_rich(summary_table(e.report))
        for line in recommendation_lines(e.report):
            self._line(line)
        for path in e.written:
            self._line(path)
        for note in e.notes:
            self._line("tfpin: " + note)

    # -- writing ---------------------------------------------------------------------------------------------
    def _cell_line(self, index: int, total: int, cell_id: str, text: str) -> None:
        self._line("[%d/%d] %-30s %s" % (index, total, cell_id, text))

    def _line(self, text: str, stream=None) -> None:
        print(text, file=stream or self.out, flush=True)

    def _print_rich(self, renderable) -> None:
        from rich.console import Console as RichConsole

        RichConsole(file=self.out, width=None if self.tty else 120, highlight=False,
                    color_system="auto" if self.tty else None).print(renderable)

    def _group(self, cell_id: str, log) -> None:
        try:
            text = log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        self._line("::group::%s log\n%s\n::endgroup::" % (cell_id, text.rstrip("\n")))


def github_annotations(result: CellResult, root) -> list[str]:
    """GitHub workflow commands for a cell's result: an `::error` on the file and line of each failing test
    (from its JUnit), else one for the cell itself; shown on the pull request's diff and the run's summary."""
    def escape(text, in_property=False):
        text = str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return text.replace(":", "%3A").replace(",", "%2C") if in_property else text

    if result.status in (PASSED, UNAVAILABLE):
        return []
    path = root / result.junit if result.junit and root is not None else None
    found = junit.failures(path) if path is not None and path.is_file() else []
    if not found:
        return ["::error title=%s::%s" % (escape(result.id, True), escape(result.reason or result.status))]
    return ["::error file=%s,line=%d,title=%s::%s" % (escape(f["file"], True), f["line"],
                                                     escape("%s: %s" % (result.id, f["test"]), True),
                                                     escape(f["message"])) for f in found]


def result_line(r: CellResult) -> str:
    t, d = r.tests, r.durations
    if d.tests_s:
        counts = "%d passed%s, %d failed, %d skipped, %d errors" % (
            t.passed, " (%d flaky)" % t.flaky if t.flaky else "", t.failed, t.skipped, t.errors)
        line = "%-11s %s  setup %.1fs  tests %.1fs" % (r.status, counts, d.setup_s, d.tests_s)
    else:
        line = "%-11s no tests run  setup %.1fs" % (r.status, d.setup_s)
    if r.cached_from:
        line += "  (cached: verdict of %s, nothing changed since)" % r.cached_from["finished"]
    elif r.env.get("reused"):
        line += "  (env reused)"
    if r.env.get("rebuilt_because") and not r.cached_from:
        line += "  (env rebuilt: %s)" % r.env["rebuilt_because"]
    if r.status != PASSED and r.reason:
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
        line += ("; %s cached (verdicts re-used, nothing changed: %d passed, %d failed, %d errors, "
                 "%d skipped when they ran; --no-cache runs them)" % (count(len(reused), "cell"), c["passed"],
                                                                      c["failed"], c["errors"], c["skipped"]))
    return line


def summary_table(report: dict):
    """The cells of a report as a short table: status, counts, time, and each failure's reason below."""
    from rich import box
    from rich.table import Table

    table = Table(title="tfpin matrix %s" % report["matrix"], box=box.SIMPLE_HEAD, title_justify="left")
    for name in ("cell", "status"):
        table.add_column(name, justify="left")
    for name in ("passed", "failed", "skipped", "tests s"):
        table.add_column(name, justify="right")
    for r in report["cells"]:
        t = r["tests"]
        status = r["status"] + (" (cached)" if r.get("cached_from") else "")
        passed = str(t["passed"]) + (" (%d flaky)" % t["flaky"] if t.get("flaky") else "")
        table.add_row(r["id"], status, passed, str(t["failed"] + t["errors"]), str(t["skipped"]),
                      "%.1f" % r["durations"]["tests_s"])
    ran = {r["id"] for r in report["cells"]}
    for cid in report.get("cells_planned", []):
        if cid not in ran:
            table.add_row(cid, "not run", "", "", "", "")
    return table


def recommendation_lines(report: dict) -> list[str]:
    """The failures in one line each, then the recommended pin as lines to copy (or why there is none)."""
    lines = ["%s: %s" % (r["status"], r["reason"]) for r in report["cells"]
             if r["status"] not in (PASSED, UNAVAILABLE) and r.get("reason")]
    rec = report["recommendation"]
    if rec["requirements"]:
        lines += ["", "Recommended pin (%s):" % rec["summary"], *("    " + c for c in rec["constraints"])]
    else:
        lines += ["", "No recommended pin: %s." % rec["summary"]]
    return lines
