"""The one scheduler: units of work `jobs` at a time, for matrix cells, pin discovery and the cross step.

The interrupt rules live here and nowhere else. Work runs in threads (the work itself is in child
processes); the threads block SIGINT/SIGTERM, so the main thread gets them and stops everything: it
marks the stop, kills every running child (procs.stop_all), waits for the threads, and keeps what
each finished or interrupted unit reported. A unit cut short by the stop is never an error of its own.
"""
from __future__ import annotations

import heapq
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor, wait

from tfpin import procs


def _as_stop(exc) -> procs.Interrupted:
    return exc if isinstance(exc, procs.Interrupted) else procs.Interrupted(130, "SIGINT")


def run(fn, items, jobs: int) -> tuple[dict, procs.Interrupted | None]:
    """fn(i, item) for every item, `jobs` at a time: ({i: result}, None), or ({i: result of the units that
    finished or were interrupted with a result}, the stop) once a signal arrived. A unit that raises
    anything else stops the others and the exception goes on up (a harness bug must not hide)."""
    numbered = list(enumerate(items))
    done: dict = {}
    if jobs <= 1 or len(numbered) <= 1:
        for i, item in numbered:
            try:
                done[i] = fn(i, item)
            except (procs.Interrupted, KeyboardInterrupt) as exc:
                stop = _as_stop(exc)
                procs.stop_all(stop.code, stop.name)
                if stop.result is not None:
                    done[i] = stop.result
                return done, stop
        return done, None
    pool = ThreadPoolExecutor(max_workers=jobs, initializer=procs.block_signals_in_thread)
    futures = {pool.submit(fn, i, item): i for i, item in numbered}
    try:
        pending = set(futures)
        while pending:  # short waits: the main thread stays responsive to signals
            finished, pending = wait(pending, timeout=0.5)
            for future in finished:
                error = future.exception()
                if error is None:
                    done[futures[future]] = future.result()
                elif isinstance(error, procs.Interrupted):
                    raise error
                else:
                    procs.stop_all(1, "an error in tfpin")
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise error
    except (procs.Interrupted, KeyboardInterrupt) as exc:
        stop = _as_stop(exc)
        procs.stop_all(stop.code, stop.name)
        pool.shutdown(wait=True, cancel_futures=True)
        for future, i in futures.items():
            if future.cancelled() or i in done:
                continue
            error = future.exception()
            if error is None:
                done[i] = future.result()
            elif isinstance(error, procs.Interrupted) and error.result is not None:
                done[i] = error.result
        return done, stop
    pool.shutdown()
    return done, None


def map_ordered(fn, items, jobs: int) -> list:
    """fn(item) for every item, results in order; an interrupt stops all and goes on up as Interrupted."""
    done, stop = run(lambda _i, item: fn(item), items, jobs)
    if stop is not None:
        raise procs.Interrupted(stop.code, stop.name)
    return [done[i] for i in range(len(done))]


class Cores:
    """The cores as a budget that units draw on: a unit holds `weight` cores while it runs, and may change it
    between its phases (a cell: set-up, then tests). Units are served strictly in their order (matrix order),
    so a later cell's set-up never overtakes an earlier cell's tests. A unit starts once at least half of
    the cores it wants are free, or when nothing else runs: a demand is a mean of runnable threads, and
    two one-process suites of demand 1.3 on two cores finish sooner side by side (some over-subscription)
    than one after the other (0.7 of a core idle throughout); two suites of demand 1.9 still run alone.
    So cell N+1's env is built while cell N's tests run when the cores allow.
    """

    def __init__(self, capacity: float):
        self.capacity = float(capacity)
        self.used = 0.0
        self.cond = threading.Condition()
        self.queue: list = []  # (order, seq) of the units waiting, served smallest first
        self.seq = itertools.count()
        self.idle = 0.0  # cores held by units that are waiting to grow (they run nothing meanwhile)

    def hold(self, order, weight: float) -> Held:
        held = Held(self, order)
        held.resize(weight)
        return held

    def _take(self, order, current: float, weight: float) -> None:
        """Wait until the unit may hold `weight` (it holds `current` now). What units hold while they wait to
        grow is not work running, so the half-free rule counts only the cores of units that run: a set-up
        that finished and waits for its tests' cores must not keep an earlier cell's tests from starting
        beside the one cell running (it did: digits_tf1 ran one suite alone for 7 s on two cores). Order
        still rules: the waiting units go on one at a time, first in order first, and each one that goes
        on counts in full before the next is weighed."""
        with self.cond:
            ticket = (order, next(self.seq))
            heapq.heappush(self.queue, ticket)
            self.idle += current
            try:
                while not (self.queue[0] == ticket and self.capacity - (self.used - self.idle) >= weight / 2 - 1e-9):
                    if procs.stopped():
                        raise procs.Interrupted(*procs.stopped())
                    self.cond.wait(0.25)
                self.used += weight - current
            finally:
                self.idle -= current
                self.queue.remove(ticket)
                heapq.heapify(self.queue)
                self.cond.notify_all()

    def _give(self, weight: float) -> None:
        with self.cond:
            self.used -= weight
            self.cond.notify_all()


class Held:
    """What one unit holds of a Cores budget; a context manager that gives it back."""

    def __init__(self, cores: Cores, order):
        self.cores, self.order, self.weight = cores, order, 0.0

    def resize(self, weight: float) -> None:
        weight = min(float(weight), self.cores.capacity)
        if weight > self.weight:
            self.cores._take(self.order, self.weight, weight)
        elif weight < self.weight:
            self.cores._give(self.weight - weight)
        self.weight = weight

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cores._give(self.weight)
        self.weight = 0.0


class Budget:
    """What the units of one run share, for cells and pin discovery's trials alike: `-j N` is N slots of one core
    each; by default the machine's cores, each unit holding what its phase kept busy when last measured
    (load.Demands: `key` is a cell id or a kind of trial, `phase` "setup" or "tests")."""

    def __init__(self, jobs: int | None, demands, cpus: int):
        self.jobs, self.demands = jobs, demands
        self.cores = Cores(jobs if jobs else cpus)

    def hold(self, order, key: str, phase: str) -> Held:
        return self.cores.hold(order, 1 if self.jobs else self.demands.weight(key, phase))

    def resize(self, held: Held, key: str, phase: str) -> None:
        """A unit going on to its next phase holds what that phase needs (nothing changes under -j)."""
        if not self.jobs:
            held.resize(self.demands.weight(key, phase))

    def describe(self, units: str, basis: str) -> str:
        if self.jobs:
            return "%d %sat a time (-j)" % (self.jobs, units + " " if units else "")
        if units:
            return "%s as many at once as %d cores feed (%s)" % (units, self.cores.capacity, basis)
        return "as many as %d cores feed (%s)" % (self.cores.capacity, basis)
