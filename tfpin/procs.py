"""Child processes that can always be stopped as a whole.

Every installer and pytest run gets its own session (process group), so a Ctrl-C, a
SIGTERM or a deadline kills the child *and* everything it started (the cell suite runs
fresh TensorFlow processes of its own): a stopped run leaves no orphans behind.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading

# Children running now, so that a stop seen by the main thread reaches those that worker threads started.
_live: set = set()
_live_lock = threading.Lock()
_stopped: list = []  # [(code, name)] once stop_all was called: no new child starts after that


class Interrupted(BaseException):
    """The run was asked to stop; `code` is the exit status it must end with (130, 143)."""

    def __init__(self, code: int, name: str):
        super().__init__(name)
        self.code, self.name = code, name


def _raise_terminated(signum, _frame):
    raise Interrupted(128 + signum, signal.Signals(signum).name)


def install_signal_handlers() -> None:
    """SIGTERM ends a run the way Ctrl-C does (CI cancellations send SIGTERM)."""
    signal.signal(signal.SIGTERM, _raise_terminated)


def kill_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # The leader may be gone while members of its group linger: make sure none survive.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop_all(code: int, name: str) -> None:
    """The main thread was interrupted: kill every running child; worker threads then raise Interrupted."""
    with _live_lock:
        _stopped[:] = [(code, name)]
        running = list(_live)
    for proc in running:
        kill_group(proc)


def _raise_if_stopped() -> None:
    if _stopped:
        raise Interrupted(*_stopped[0])


def run(cmd, *, cwd=None, env=None, stdout=None, timeout: float | None = None):
    """(returncode or None when the deadline passed, captured text or None). Re-raises interrupts."""
    capture = stdout is None
    with _live_lock:
        _raise_if_stopped()
        proc = subprocess.Popen([str(c) for c in cmd], cwd=cwd, env=env, start_new_session=True,
                                stdout=subprocess.PIPE if capture else stdout,
                                stderr=subprocess.STDOUT, text=True if capture else None)
        _live.add(proc)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, _ = proc.communicate()
        return None, out
    except BaseException:
        kill_group(proc)
        raise
    finally:
        with _live_lock:
            _live.discard(proc)
    _raise_if_stopped()
    try:  # the leader exited: whatever it left running in its group goes with it
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return proc.returncode, out
