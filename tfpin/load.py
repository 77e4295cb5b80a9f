"""How much of the machine a cell uses, measured while it runs, so the next run can size its parallelism.

Two figures per phase of a cell (set-up: env, imports; tests: the suite):
  cpu_s    user+sys CPU seconds of every process the phase started and of every descendant they waited
           for (procs reaps with wait4); cpu_s / wall_s is the phase's *use* of the machine.
  demand   the mean number of runnable threads in the phase's process trees, sampled once a second
           from /proc. Use alone cannot tell a cell that wants two cores but shared them with another
           (use 1.0) from one that wants one (use 1.0); runnable threads can: a thread waiting for a
           core is runnable too. This is what the scheduler (schedule.Cores) reserves for the phase.
Reading /proc is Linux; elsewhere demand falls back to use.
"""
from __future__ import annotations

import math
import os
import threading
import time

from tfpin import environ, procs

MIN_SAMPLES = 3  # fewer ticks than this (a phase of a second or two): use stands in for demand

_meters: set = set()
_meters_lock = threading.Lock()
_sampler: list = []


class Phase:
    """One phase's figures: wall seconds, CPU seconds, mean runnable threads (None: too short to sample)."""

    def __init__(self, meter):
        self.meter = meter
        self.t0, self.cpu0 = time.monotonic(), meter.cpu_now()
        self.ticks0, self.runnable0 = meter.ticks, meter.runnable
        self.wall_s = self.cpu_s = 0.0
        self.demand = None

    def end(self) -> Phase:
        self.wall_s = time.monotonic() - self.t0
        self.cpu_s = self.meter.cpu_now() - self.cpu0
        ticks = self.meter.ticks - self.ticks0
        if ticks >= MIN_SAMPLES:
            self.demand = (self.meter.runnable - self.runnable0) / ticks
        return self

    @property
    def use(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def figures(self) -> dict:
        demand = self.demand if self.demand is not None else self.use
        return {"cpu_s": round(self.cpu_s, 2), "demand": round(max(demand, self.use), 2)}


class Meter:
    """The CPU seconds and runnable-thread samples of the children one thread (one cell) starts: inside
    `with Meter()`, every child this thread starts through procs.run reports to it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.cpu = 0.0  # of children that ended
        self.live: set = set()  # session ids (each child leads its own session: procs.run)
        self.ticks = 0
        self.runnable = 0

    def started(self, pid: int) -> None:
        with self.lock:
            self.live.add(pid)

    def ended(self, pid: int, cpu_s: float) -> None:
        with self.lock:
            self.live.discard(pid)
            self.cpu += cpu_s

    def cpu_now(self) -> float:
        with self.lock:
            return self.cpu

    def phase(self) -> Phase:
        return Phase(self)

    def __enter__(self):
        with _meters_lock:
            _meters.add(self)
            if not _sampler:
                thread = threading.Thread(target=_sample_forever, name="tfpin-load", daemon=True)
                _sampler.append(thread)
                thread.start()
        procs.metering(self)
        return self

    def __exit__(self, *exc):
        procs.metering(None)
        with _meters_lock:
            _meters.discard(self)


def _sample_forever() -> None:
    while True:
        time.sleep(environ.seconds("TFPIN_SAMPLE_S"))  # checked before anything ran (inputs.load)
        with _meters_lock:
            meters = list(_meters)
        if not meters:
            continue
        sessions = {}
        for meter in meters:
            with meter.lock:
                for sid in meter.live:
                    sessions[sid] = meter
        counts = runnable_by_session(set(sessions))
        for meter in meters:
            with meter.lock:
                meter.ticks += 1
                meter.runnable += sum(n for sid, n in counts.items() if sessions.get(sid) is meter)


def runnable_by_session(sessions: set) -> dict:
    """{session id: threads in state R} over the processes of those sessions (empty where /proc is not)."""
    counts: dict = {}
    if not sessions:
        return counts
    try:
        pids = [d for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return counts
    for pid in pids:
        fields = _stat("/proc/%s/stat" % pid)
        if fields is None or int(fields[3]) not in sessions:
            continue
        sid = int(fields[3])
        try:
            tasks = os.listdir("/proc/%s/task" % pid)
        except OSError:
            continue
        for tid in tasks:
            task = _stat("/proc/%s/task/%s/stat" % (pid, tid))
            if task is not None and task[0] == "R":
                counts[sid] = counts.get(sid, 0) + 1
    return counts


def _stat(path: str):
    """The fields after `pid (comm)` of a /proc stat file: [state, ppid, pgrp, session, ...], or None."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def usable(demand) -> float | None:
    """A demand read back from a stored result, or None (unknown) when it is no positive finite number of cores: a
    NaN weight never compares as fitting, and a stored NaN once made `tfpin matrix` wait for ever with nothing
    running."""
    if isinstance(demand, bool) or not isinstance(demand, (int, float)) or not math.isfinite(demand) or demand <= 0:
        return None
    return float(demand)


class Demands:
    """The cores each cell's phases will be given: its own last run's demand, else the median of the cells
    measured so far in this run, else one core for set-up and the project's `cores` for tests (default one:
    one cell per core until something is known); a cell's tests never get fewer than the project's `cores`."""

    def __init__(self, previous: dict, capacity: float, tests_default: float = 1.0):
        self.previous = previous  # {cell id: {"setup": demand, "tests": demand}} from stored results
        self.capacity = capacity
        self.default = {"setup": 1.0, "tests": tests_default}  # the project's `cores`: what its suite says it feeds
        self.seen: dict = {"setup": [], "tests": []}
        self.lock = threading.Lock()

    def weight(self, cell_id: str, phase: str) -> float:
        known = usable((self.previous.get(cell_id) or {}).get(phase))
        if known is None:
            with self.lock:
                seen = sorted(self.seen[phase])
            known = seen[len(seen) // 2] if seen else self.default[phase]
        if phase == "tests":  # the project's `cores` is a floor: a suite whose processes mostly wait on each other
            known = max(known, self.default[phase])  # shows few runnable threads, yet collapses when it shares
        return min(max(known, 0.25), self.capacity)

    def learned(self, phase: str, demand: float | None) -> None:
        demand = usable(demand)
        if demand is not None:
            with self.lock:
                self.seen[phase].append(demand)
