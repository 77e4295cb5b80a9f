"""Fresh-process checks queued when their test module is collected, awaited by the tests that need them.

Some checks need a brand-new Python process (TF logs a deprecation notice once per process and
reads TF_CPP_MIN_LOG_LEVEL once); building twenty ResNet graphs needs ~20 s of CPU.  The cell
suite itself is single-threaded, so these scripts run one after another on the machine's other
core while the suite runs: queued at collection (in collection order, i.e. roughly the order
their tests run), executed by one worker thread, collected by the test that needs the result.
A test that needs a job the worker has not reached yet starts it at once.  The modules that queue jobs
run last (conftest.py reorders them), so the suite's in-process tests keep one core busy while the
worker fills the other, instead of the suite waiting on each job as soon as it is queued.  Output goes to
temporary files (a chatty child can never block on a full pipe); a child still running when
pytest exits (its tests were deselected) is killed.
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

_lock = threading.Lock()
_queue = []  # keys in the order they were queued
_jobs = {}  # key -> {"argv", "env", "proc", "out", "err", "result"}
_worker = None
QUEUED_BY = set()  # names of the test modules that queued a job: conftest.py runs their tests last


def start(script, args=(), env=None):
    """Queue scripts/<script> with `args` (once per pytest process); `env` entries override (None removes)."""
    global _worker
    caller = sys._getframe(1).f_globals.get("__name__")
    if caller != __name__:
        QUEUED_BY.add(caller)
    key = (script,) + tuple(args)
    with _lock:
        if key not in _jobs:
            environ = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
            for name, value in (env or {}).items():
                if value is None:
                    environ.pop(name, None)
                else:
                    environ[name] = value
            _jobs[key] = {"argv": [sys.executable, os.path.join(SCRIPTS, script)] + list(args), "env": environ,
                          "proc": None}
            _queue.append(key)
        if _worker is None:
            _worker = threading.Thread(target=_work, name="tfpin-background", daemon=True)
            _worker.start()
    return key


def result(script, args=(), env=None, timeout=900):
    """Wait for the job (launching it now if the worker has not) and return its Result (cached)."""
    key = start(script, args, env)
    job = _launch(key)
    if "result" not in job:
        job["proc"].wait(timeout=timeout)
        job["out"].seek(0)
        job["err"].seek(0)
        job["result"] = Result(job["proc"].returncode, job["out"].read(), job["err"].read())
    return job["result"]


def _launch(key):
    with _lock:
        job = _jobs[key]
        if job["proc"] is None:
            job["out"], job["err"] = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
            job["proc"] = subprocess.Popen(job["argv"], env=job["env"], stdout=job["out"], stderr=job["err"],
                                           universal_newlines=True)
            atexit.register(_kill, job["proc"])
        return job


def _work():
    """Run queued jobs one at a time; exit (so a later start() spawns a new worker) when none is left."""
    global _worker
    done = 0
    while True:
        with _lock:
            if done == len(_queue):
                _worker = None
                return
            key = _queue[done]
        _launch(key)["proc"].wait()
        done += 1


def _kill(proc):
    if proc.poll() is None:
        proc.kill()
