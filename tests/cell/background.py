"""Fresh-process checks queued when their test module is collected, awaited by the tests that need them.

Some checks need a brand-new Python process (TF logs a deprecation notice once per process and
reads TF_CPP_MIN_LOG_LEVEL once); building twenty ResNet graphs needs ~20 s of CPU.  The cell
suite itself is single-threaded, so these scripts run on the cores it leaves idle: queued at
collection (in collection order, i.e. the order their tests run), launched by one worker thread,
collected by the test that needs the result.  The worker keeps one job per idle core running: all
cores but one while the suite runs its own tests, every core while a test waits for a result (a
waiting suite uses none).  The modules that queue jobs run last (conftest.py reorders them), so the
in-process tests run while the first jobs do.  A test that needs a job not launched yet launches it
at once.  Output goes to temporary files (a chatty child can never block on a full pipe); a child
still running when pytest exits (its tests were deselected) is killed.
"""
import atexit
import collections
import os
import subprocess
import sys
import tempfile
import threading

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")
Result = collections.namedtuple("Result", "returncode stdout stderr")
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
POLL_SECONDS = 0.2  # how soon the worker sees a finished job (exits are polled, not signalled)

_changed = threading.Condition()  # guards everything below
_queue = []  # keys in the order they were queued
_jobs = {}  # key -> {"argv", "env", "proc", "out", "err", "result"}
_worker = None
_waiting = 0  # tests blocked in result(): while one is, this process needs no core
QUEUED_BY = set()  # names of the test modules that queued a job: conftest.py runs their tests last


def start(script, args=(), env=None, first=False):
    """Queue scripts/<script> with `args` (once per pytest process); `env` entries override (None removes).

    first: put it ahead of the jobs queued so far.  For the longest jobs whose tests run last (20 s of
    graph building): launched late, they are the suite's tail with one core idle; launched first, they
    run while this process runs its own tests and the short jobs fill the end."""
    global _worker
    caller = sys._getframe(1).f_globals.get("__name__")
    if caller != __name__:
        QUEUED_BY.add(caller)
    key = (script,) + tuple(args)
    with _changed:
        if key not in _jobs:
            environ = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
            for name, value in (env or {}).items():
                if value is None:
                    environ.pop(name, None)
                else:
                    environ[name] = value
            _jobs[key] = {"argv": [sys.executable, os.path.join(SCRIPTS, script)] + list(args), "env": environ,
                          "proc": None}
            if first:
                _queue.insert(sum(1 for k in _queue if _jobs[k].get("first")), key)
                _jobs[key]["first"] = True
            else:
                _queue.append(key)
        if _worker is None:
            _worker = threading.Thread(target=_work, name="tfpin-background", daemon=True)
            _worker.start()
        _changed.notify_all()
    return key


def result(script, args=(), env=None, timeout=900):
    """Wait for the job (launching it now if the worker has not) and return its Result (cached)."""
    global _waiting
    key = start(script, args, env)
    with _changed:
        job = _launch(key)
        _waiting += 1
        _changed.notify_all()
    try:
        if "result" not in job:
            job["proc"].wait(timeout=timeout)
    finally:
        with _changed:
            _waiting -= 1
    if "result" not in job:
        job["out"].seek(0)
        job["err"].seek(0)
        job["result"] = Result(job["proc"].returncode, job["out"].read(), job["err"].read())
    return job["result"]


def _launch(key):
    """Start the job's process unless it runs already (caller holds _changed)."""
    job = _jobs[key]
    if job["proc"] is None:
        job["out"], job["err"] = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
        job["proc"] = subprocess.Popen(job["argv"], env=job["env"], stdout=job["out"], stderr=job["err"],
                                       universal_newlines=True)
        atexit.register(_kill, job["proc"])
    return job


def _work():
    """Launch queued jobs in order, as many at once as there are idle cores; exit (a later start() spawns a
    new worker) once every queued job has been launched."""
    global _worker
    with _changed:
        while True:
            pending = [key for key in _queue if _jobs[key]["proc"] is None]
            if not pending:
                _worker = None
                return
            running = sum(1 for job in _jobs.values() if job["proc"] is not None and job["proc"].poll() is None)
            if running < max(1, CORES - (0 if _waiting else 1)):
                _launch(pending[0])
            else:
                _changed.wait(POLL_SECONDS)


def _kill(proc):
    if proc.poll() is None:
        proc.kill()
