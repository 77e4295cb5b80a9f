"""While cells run: what each one's pytest says of itself, turned into events for the console's live views.

A suite can run for twenty minutes; a console that says `started` and then nothing is a console people kill.
Every TICK_S this reads each watched cell's progress file (written by the in-cell plugin, $TFPIN_PROGRESS: the
tests done of those collected, the test running now) and emits `TestsProgressed`; for `-v` it also reads the
new whole lines of the cell's log and emits `LogLines`. What is shown, and how often, is the console's choice.
"""
from __future__ import annotations

import threading
from pathlib import Path

from tfpin import events
from tfpin.files import read_json

TICK_S = 0.5


class _Watched:
    def __init__(self, progress: Path, log: Path | None):
        self.progress, self.log = progress, log
        self.offset = 0  # how much of its log has been emitted


class Watcher:
    """Context manager around a run of cells; watch() / unwatch() from the scheduler's units (any thread)."""

    def __init__(self, reporter: events.Reporter, stream_logs: bool = False):
        self.reporter, self.stream_logs = reporter, stream_logs
        self.watched: dict[str, _Watched] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> "Watcher":
        self.thread = threading.Thread(target=self._loop, name="tfpin-progress", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(5)

    def watch(self, cell_id: str, progress: Path, log: Path | None) -> None:
        with self.lock:
            self.watched[cell_id] = _Watched(progress, log)

    def unwatch(self, cell_id: str) -> None:
        """Stop watching; the log's last lines are emitted first (for -v), so none is lost."""
        with self.lock:
            watched = self.watched.pop(cell_id, None)
            if watched is not None:
                self._log_lines(cell_id, watched)

    def _loop(self) -> None:
        while not self.stop.wait(TICK_S):
            with self.lock:
                for cell_id, watched in list(self.watched.items()):
                    self._log_lines(cell_id, watched)
                    self.reporter.emit(self._progress(cell_id, watched))

    @staticmethod
    def _progress(cell_id: str, watched: _Watched) -> events.TestsProgressed:
        state = read_json(watched.progress)
        if not state:
            return events.TestsProgressed(cell_id)
        return events.TestsProgressed(cell_id, done=state.get("done", 0), collected=state.get("collected", 0),
                                      test=state.get("test", ""))

    def _log_lines(self, cell_id: str, watched: _Watched) -> None:
        if not self.stream_logs or watched.log is None:
            return
        try:
            with open(watched.log, "rb") as f:
                f.seek(watched.offset)
                data = f.read()
        except OSError:
            return
        complete = data[:data.rfind(b"\n") + 1]  # whole lines only; the rest comes on the next tick
        watched.offset += len(complete)
        if complete:
            self.reporter.emit(events.LogLines(cell_id, tuple(complete.decode("utf-8", "replace").splitlines())))
