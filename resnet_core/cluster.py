"""Multi-worker training on TensorFlow's own distributed runtime (parameter servers + workers).

`python -m resnet_core.train --ps P --workers W ...` calls launch(): it picks free ports on
127.0.0.1, writes a tf.train.ClusterSpec {"ps": [...], "worker": [...]}, and starts one process per
task, `python -m resnet_core.cluster --job ps|worker --task I --cluster-spec JSON --config JSON`.
Each process runs a tf.train.Server; the launcher waits for the workers, then ends the parameter
servers (they would serve forever), and returns the chief's result.  Whatever happens, no process
outlives the launcher: a worker that exits non-zero or a parameter server that exits at all stops
the whole cluster with ClusterError naming it and quoting its last output line ("worker 1 exited
1: RuntimeError: ..."); every other task is then terminated (SIGTERM, SIGKILL after a grace period).
Tasks also watch their parent: if the launcher itself is killed, they exit within a second.

This module is the supervisor and imports no TensorFlow (tests/cell/test_cluster.py checks it in a fresh
process): a launcher that only starts, watches and stops processes must not pay for, or be broken by, the
TensorFlow it supervises. What each task runs is resnet_core/cluster_task.py.
"""
import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

FAULT_ENV = "RESNET_CORE_CLUSTER_FAULT"
HOST = "127.0.0.1"
STOP_GRACE_SECONDS = 5.0
PORT_RETRIES = 3
# A task's last output lines kept for error messages (its stdout and stderr, merged).
TAIL_LINES = 40
_BIND_FAILURE = ("Could not start gRPC server", "Address already in use")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)(:|$)")


class ClusterError(RuntimeError):
    """A task of the cluster failed; the message names it and quotes its last output line."""

    def __init__(self, message, task=None, output=()):
        super(ClusterError, self).__init__(message)
        self.task = task
        self.output = list(output)


def free_ports(count, host=HOST):
    """`count` distinct ports nobody listens on right now (all bound at once, then released)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def local_cluster_spec(ps, workers, host=HOST):
    """{"ps": ["127.0.0.1:port", ...], "worker": [...]} on free ports."""
    ports = free_ports(ps + workers, host)
    addresses = ["%s:%d" % (host, port) for port in ports]
    return {"ps": addresses[:ps], "worker": addresses[ps:]}


def task_name(job, task):
    return "%s %d" % (job, task)


class _Task(object):
    """One started process: its Popen and a reader thread keeping the tail of its output."""

    def __init__(self, job, task, argv, env, forward):
        self.job, self.task, self.name = job, task, task_name(job, task)
        self.tail = collections.deque(maxlen=TAIL_LINES)
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, universal_newlines=True, bufsize=1)
        self.reader = threading.Thread(target=self._read, args=(forward,), name="cluster-" + self.name.replace(" ", ""),
                                       daemon=True)
        self.reader.start()

    def _read(self, forward):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.tail.append(line)
            if forward is not None:
                forward(self, line)
        self.proc.stdout.close()

    def last_line(self):
        """Its last error line: the last "SomeError: ..." line (TF appends context after it), else its last line."""
        self.reader.join(2.0)
        lines = [line.strip() for line in self.tail if line.strip()]
        for line in reversed(lines):
            if _EXCEPTION_LINE.match(line):
                return line
        return lines[-1] if lines else "(no output)"

    def describe_exit(self):
        rc = self.proc.returncode
        how = "exited %d" % rc
        if rc < 0:
            try:
                how += " (killed by %s)" % signal.Signals(-rc).name
            except ValueError:
                pass
        return "%s %s: %s" % (self.name, how, self.last_line())


class Cluster(object):
    """The processes of one cluster; a context manager that leaves none of them running.

    command(job, task) -> argv of that task's process.  forward(task, line), if given, sees every
    output line of every task as it arrives (e.g. to relay the chief's progress).
    """

    def __init__(self, spec, command, env=None, forward=None, log=None):
        self.spec = spec
        self.command = command
        self.env = dict(os.environ if env is None else env)
        self.forward = forward
        self.log = log
        self.tasks = []

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        # ps first: workers connect to them.  Every task watches its parent (this process).
        self.env["RESNET_CORE_CLUSTER_PARENT"] = str(os.getpid())
        for job in ("ps", "worker"):
            for task, address in enumerate(self.spec[job]):
                started = _Task(job, task, self.command(job, task), self.env, self.forward)
                self.tasks.append(started)
                if self.log:
                    self.log("cluster: %s pid %d %s" % (started.name, started.proc.pid, address))

    def pids(self):
        return [t.proc.pid for t in self.tasks]

    def wait(self, timeout=None, poll=0.1):
        """Return when every worker exited 0; raise ClusterError at the first failure (or on timeout)."""
        deadline = None if timeout is None else time.time() + timeout
        while True:
            workers_done = True
            for t in self.tasks:
                rc = t.proc.poll()
                if t.job == "ps":
                    if rc is not None:
                        raise ClusterError(t.describe_exit() + " (a parameter server must run until training ends)",
                                           t.name, t.tail)
                elif rc is None:
                    workers_done = False
                elif rc != 0:
                    raise ClusterError(t.describe_exit(), t.name, t.tail)
            if workers_done:
                return
            if deadline is not None and time.time() > deadline:
                raise ClusterError("cluster: training did not end within %g s" % timeout)
            time.sleep(poll)

    def stop(self):
        """Terminate every task still running (SIGTERM, then SIGKILL after STOP_GRACE_SECONDS); reap all."""
        alive = [t for t in self.tasks if t.proc.poll() is None]
        for t in alive:
            _signal(t.proc, signal.SIGTERM)
        deadline = time.time() + STOP_GRACE_SECONDS
        for t in alive:
            try:
                t.proc.wait(max(deadline - time.time(), 0.01))
            except subprocess.TimeoutExpired:
                _signal(t.proc, signal.SIGKILL)
                t.proc.wait()
        for t in self.tasks:
            t.proc.wait()
            t.reader.join(2.0)
        if self.log and alive:
            self.log("cluster: stopped %s" % ", ".join(t.name for t in alive))


def _signal(proc, sig):
    try:
        proc.send_signal(sig)
    except OSError:  # it exited meanwhile
        pass


def launch(args, progress=None, log=None):
    """Run the training described by `args` (train.py's namespace, args.ps/args.workers >= 1) on a local
    cluster; returns the chief's result dict plus "cluster".  Raises ClusterError if a task fails.

    progress(line) gets the chief's "step ..." lines; log(line) the launcher's own lines ("cluster: ...")
    and every other line a task prints, as "[worker 1] ...".
    """
    work = tempfile.mkdtemp(prefix="resnet_core_cluster_")
    result_file = os.path.join(work, "result.json")
    config = json.dumps(vars(args), sort_keys=True)
    env = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in [env.get("PYTHONPATH")] if p])

    def forward(task, line):
        # The chief's progress lines as they are; everything else a task prints, prefixed with its name.
        if progress is not None and task.name == "worker 0" and line.startswith("step "):
            progress(line)
        elif log is not None:
            log("[%s] %s" % (task.name, line))

    try:
        for attempt in range(1, PORT_RETRIES + 1):
            spec = local_cluster_spec(args.ps, args.workers)
            spec_json = json.dumps(spec, sort_keys=True)

            def command(job, task, spec_json=spec_json):
                argv = [sys.executable, "-m", "resnet_core.cluster_task", "--job", job, "--task", str(task),
                        "--cluster-spec", spec_json, "--config", config]
                return argv + (["--result-file", result_file] if job == "worker" and task == 0 else [])

            try:
                with Cluster(spec, command, env=env, forward=forward, log=log) as cluster:
                    cluster.wait()
                break
            except ClusterError as exc:
                # Ports are probed free, then released for the servers to bind: another process may take
                # one in between.  Only that failure is retried, with fresh ports.
                if attempt < PORT_RETRIES and any(m in line for line in exc.output for m in _BIND_FAILURE):
                    if log:
                        log("cluster: %s could not bind its port; retrying on fresh ports" % exc.task)
                    continue
                raise
        with open(result_file) as f:
            result = json.load(f)
    finally:
        for name in os.listdir(work):
            os.remove(os.path.join(work, name))
        os.rmdir(work)
    result["cluster"] = {"ps": args.ps, "workers": args.workers}
    return result
