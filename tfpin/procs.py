"""Child processes that can always be stopped as a whole, and the signals that stop them.

Every installer and pytest run gets its own session (process group), so a Ctrl-C, a
SIGTERM or a deadline kills the child *and* everything it started (the cell suite runs
fresh TensorFlow processes of its own): a stopped run leaves no orphans behind.

Signals: tfpin installs its own SIGINT and SIGTERM handlers. A process started with `cmd &`
from a script inherits SIGINT as ignored, and Python then installs no KeyboardInterrupt
handler, so relying on Python's default would make Ctrl-C (or CI's SIGINT) do nothing. The
first signal raises `Interrupted` in the main thread; later ones are only recorded, so the
cleanup the first one started (killing children, writing the last report) is never cut short.
Worker threads block both signals; a child is registered with them blocked, so no signal can
fall between starting a child and knowing it must be killed.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE = 2.0  # how long a worker waits, after its child died of a signal, for the main thread's stop to show

# Children running now, so that a stop seen by the main thread reaches those that worker threads started.
_live: set = set()
_live_lock = threading.Lock()
_stopped: list = []  # [(code, name)] once a stop began: no new child starts after that
_later: list = []  # names of the signals that arrived after the first (recorded, never raised)
_critical = threading.local()  # per thread: depth of `critical()` sections, and whether a raise is owed
_metering = threading.local()  # per thread: the meter (tfpin/load.py) its children's CPU seconds go to, if any


class _Popen(subprocess.Popen):
    """A Popen reaped with wait4, so the CPU seconds of the child and of every descendant it waited for
    (pytest's fresh TensorFlow processes, uv's interpreters) are known when it ends: `rusage`."""

    rusage = None

    def _try_wait(self, wait_flags):  # the one place CPython's POSIX Popen reaps (3.8-3.13: wait/communicate)
        try:
            pid, sts, usage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:  # SIGCHLD ignored: the status is gone, as in CPython's own version
            return self.pid, 0
        if pid == self.pid:
            self.rusage = usage
        return pid, sts


def metering(meter):
    """Children started by this thread from now on report to `meter` (started(pid), ended(pid, cpu_s))."""
    _metering.meter = meter


def _meter():
    return getattr(_metering, "meter", None)


class Interrupted(BaseException):
    """The run was asked to stop; `code` is the exit status it must end with (130, 143).

    `result`: what the interrupted unit of work had when it stopped (a cell's result), or None.
    """

    def __init__(self, code: int, name: str, result=None):
        super().__init__(name)
        self.code, self.name, self.result = code, name, result


class Cancelled(Interrupted):
    """This thread's work was called off (--fail-fast=now, another cell failed): not a stop of the run, which goes
    on to its report; the unit's earlier evidence is kept as for an interrupt."""


_cancelled: set = set()  # ids of the threads whose work was called off
_owner: dict = {}  # live child -> id of the thread that started it
_cancel_names: list = []  # what called the work off (said by Cancelled)


def cancel(threads, name: str) -> None:
    """Call off the work of these threads: their children are killed, and their next or current procs.run raises
    Cancelled. `uncancel_all()` once those units ended (thread ids are reused)."""
    with _live_lock:
        _cancelled.update(threads)
        _cancel_names[:] = [name]
        victims = [proc for proc in _live if _owner.get(proc) in _cancelled]
    for proc in victims:
        kill_group(proc)


def uncancel_all() -> None:
    with _live_lock:
        _cancelled.clear()



def _on_signal(signum, _frame):
    name = signal.Signals(signum).name
    with _live_lock:
        first = not _stopped
        if first:
            _stopped[:] = [(128 + signum, name)]
        else:
            _later.append(name)
    if not first:
        return
    if getattr(_critical, "depth", 0):
        _critical.owed = True
        return
    raise Interrupted(128 + signum, name)


def install_signal_handlers() -> None:
    """SIGINT and SIGTERM both end a run through `Interrupted` (CI cancellations send SIGTERM)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _on_signal)


def reset() -> None:
    """Forget an earlier stop (for a process that runs several commands, e.g. a test calling main twice)."""
    with _live_lock:
        _stopped[:] = []
        _later[:] = []


def stopped():
    """(code, name) of the stop in progress, or None."""
    return _stopped[0] if _stopped else None


def later_signals() -> list:
    return list(_later)


def block_signals_in_thread() -> None:
    """ThreadPoolExecutor initializer: stop signals are the main thread's to handle."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


@contextlib.contextmanager
def critical():
    """A section the first signal must not cut in half (a report being replaced): it raises after it."""
    _critical.depth = getattr(_critical, "depth", 0) + 1
    try:
        yield
    finally:
        _critical.depth -= 1
        if not _critical.depth and getattr(_critical, "owed", False):
            _critical.owed = False
            code, name = _stopped[0]
            raise Interrupted(code, name)


def kill_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # The leader may be gone while members of its group linger: make sure none survive.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def stop_all(code: int, name: str) -> None:
    """Kill every running child; worker threads then raise Interrupted. Idempotent: the first stop's
    code and name are kept."""
    with _live_lock:
        if not _stopped:
            _stopped[:] = [(code, name)]
        running = list(_live)
    for proc in running:
        kill_group(proc)


def _raise_if_stopped() -> None:
    if _stopped:
        raise Interrupted(*_stopped[0])
    if threading.get_ident() in _cancelled:
        raise Cancelled(1, (_cancel_names or ["cancelled"])[0])


def _died_of_a_stop(code, stop_codes) -> bool:
    return code is not None and (code < 0 and -code in STOP_SIGNALS or code in (130, 143) or code in stop_codes)


def run(cmd, *, cwd=None, env=None, stdout=None, timeout: float | None = None, stop_codes=()):
    """(returncode or None when the deadline passed, captured text or None). Re-raises interrupts.

    env=None gives the child the scrubbed host environment (tfpin.environ.child), never the raw one.
    stop_codes: exit codes the child uses for "I was interrupted" (pytest: 2); when the child ends with
    one (or dies of SIGINT/SIGTERM) a worker waits GRACE seconds for the main thread's stop, so a cell
    hit by the same signal as tfpin is `interrupted`, not an error of its own.
    """
    if env is None:
        from tfpin.environ import child

        env = child()
    capture = stdout is None
    proc = None
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        with _live_lock:
            _raise_if_stopped()
            proc = _Popen([str(c) for c in cmd], cwd=cwd, env=env, start_new_session=True,
                          stdout=subprocess.PIPE if capture else stdout,
                          stderr=subprocess.STDOUT, text=True if capture else None)
            _live.add(proc)
            _owner[proc] = threading.get_ident()
        meter = _meter()
        if meter is not None:
            meter.started(proc.pid)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending signal raises here, inside the try
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        assert proc is not None  # only communicate() times out, after the start
        kill_group(proc)
        out, _ = proc.communicate()
        return None, out
    except BaseException:
        if proc is not None:
            kill_group(proc)
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if proc is not None:
            with _live_lock:
                _live.discard(proc)
                _owner.pop(proc, None)
            if _meter() is not None:
                usage = proc.rusage
                _meter().ended(proc.pid, usage.ru_utime + usage.ru_stime if usage is not None else 0.0)
    if _died_of_a_stop(proc.returncode, stop_codes) and threading.current_thread() is not threading.main_thread():
        deadline = time.monotonic() + GRACE
        while not _stopped and threading.get_ident() not in _cancelled and time.monotonic() < deadline:
            time.sleep(0.05)
    _raise_if_stopped()
    try:  # the leader exited: whatever it left running in its group goes with it
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return proc.returncode, out


def last_json(out) -> dict | None:
    """The last line of a child's output that is a JSON object (what a cell-side command reports), else None:
    anything it printed before (TensorFlow's log lines, warnings) is left aside."""
    for line in reversed((out or "").splitlines()):
        if line.strip().startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                return None
            return data if isinstance(data, dict) else None
    return None


def head(out, lines: int = 3, width: int = 400) -> str:
    """The first non-blank lines a child printed, on one line and at most `width` long (what an installer says
    first is its error; the rest is context)."""
    said = [ln.strip() for ln in (out or "").splitlines() if ln.strip()]
    return " | ".join(said[:lines])[:width]


def tail(out, lines: int = 3) -> str:
    """The last lines a child printed, on one line (for a reason that quotes it)."""
    return " | ".join(ln.strip() for ln in (out or "").strip().splitlines()[-lines:])
