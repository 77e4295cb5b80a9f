"""While cells run: how far each one is, on a terminal and in a CI log.

A suite can run for twenty minutes; a console that says `started` and then nothing is a console people
kill. Per running cell this shows the tests done of those collected, the test running now, the elapsed
time and an ETA (from the cell's previous run when the verdict cache has one, else from its pace), read
from the in-cell plugin's progress file ($TFPIN_PROGRESS). On a terminal it is a status region redrawn
in place (rich); elsewhere (CI logs, pipes) one plain heartbeat line per running cell at most every
TFPIN_HEARTBEAT_S seconds (default 30). On GitHub Actions each finished cell's log is folded into a `::group::`.
`verbose` streams each cell's pytest output as it is written, prefixed with the cell id; `quiet` shows none of this.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time

from . import environ

TICK_S = 0.5


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return "%dm%02ds" % divmod(seconds, 60) if seconds >= 60 else "%ds" % seconds


class _Running:
    def __init__(self, index, total, cell, progress, log, expected_s):
        self.index, self.total, self.cell = index, total, cell
        self.progress, self.log, self.expected_s = progress, log, expected_s
        self.started = time.monotonic()
        self.offset = 0  # how much of its log `verbose` has shown
        self.last_beat = self.started
        self.tests_started = None  # when its pytest reported the first test: the pace counts from there

    def state(self) -> dict:
        try:
            data = json.loads(self.progress.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def line(self) -> str:
        """'[3/8] <cell>  120/362 tests  1m35s  ETA ~1m50s (last run 3m30s)  now: <test>'."""
        elapsed = time.monotonic() - self.started
        state = self.state()
        head = "[%d/%d] %-30s" % (self.index, self.total, self.cell.id)
        if not state:
            return "%s setting up (its environment)  %s" % (head, _duration(elapsed))
        done, collected = state.get("done", 0), state.get("collected", 0)
        now = time.monotonic()
        self.tests_started = self.tests_started or now
        testing = now - self.tests_started
        eta = ""
        if self.expected_s:
            eta = "  ETA ~%s (last run %s)" % (_duration(max(self.expected_s - testing, 0)), _duration(self.expected_s))
        elif done and collected and testing:
            eta = "  ETA ~%s (from its pace)" % _duration(testing / done * (collected - done))
        return "%s %d/%d tests  %s%s  now: %s" % (head, done, collected, _duration(elapsed), eta, state.get("test", ""))


class Monitor:
    """Context manager around a run of cells; started() / finished() from the scheduler's units (any thread)."""

    def __init__(self, layout, total: int, view: str = "normal", stream=None, tty: bool | None = None):
        self.layout, self.total, self.view = layout, total, view
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.heartbeat = environ.seconds("TFPIN_HEARTBEAT_S")  # checked before anything ran (inputs.load)
        self.github = os.environ.get("GITHUB_ACTIONS") == "true"
        self.running: dict[int, _Running] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = None
        self.live = None

    def __enter__(self):
        if self.view == "quiet":
            return self
        if self.tty and self.view == "normal":
            from rich.console import Console
            from rich.live import Live

            self.live = Live("", console=Console(file=self.stream), refresh_per_second=4, transient=True,
                             redirect_stdout=True, redirect_stderr=True)
            self.live.start()
        self.thread = threading.Thread(target=self._loop, name="tfpin-progress", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        if self.thread is not None:
            self.thread.join(5)
        if self.live is not None:
            self.live.stop()
        return False

    def started(self, index, cell, expected_s=None):
        with self.lock:
            self.running[index] = _Running(index + 1, self.total, cell, self.layout.transient("progress", cell.id),
                                           self.layout.evidence("logs", cell.id), expected_s)

    def finished(self, index, cell):
        with self.lock:
            running = self.running.pop(index, None)
        if self.view == "verbose" and running is not None:
            self._stream_log(running)
        if self.github and self.view != "quiet":
            self._group(cell)

    def _loop(self):
        while not self.stop.wait(TICK_S):
            with self.lock:
                cells = list(self.running.values())
            if self.view == "verbose":
                for running in cells:
                    self._stream_log(running)
            elif self.live is not None:
                from rich.text import Text

                self.live.update(Text("\n".join(r.line() for r in cells)))
            else:
                now = time.monotonic()
                for running in cells:
                    if now - running.last_beat >= self.heartbeat:
                        running.last_beat = now
                        self._print(running.line())

    def _stream_log(self, running):
        try:
            with open(running.log, "rb") as f:
                f.seek(running.offset)
                data = f.read()
        except OSError:
            return
        complete = data[:data.rfind(b"\n") + 1]  # whole lines only; the rest comes on the next tick
        running.offset += len(complete)
        for line in complete.decode("utf-8", "replace").splitlines():
            self._print("[%s] %s" % (running.cell.id, line))

    def _group(self, cell):
        log = self.layout.evidence("logs", cell.id)
        try:
            text = log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        self._print("::group::%s log\n%s\n::endgroup::" % (cell.id, text.rstrip("\n")))

    def _print(self, text):
        print(text, file=self.stream, flush=True)
