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

Training (between-graph replication, synchronous), the same conventions as training.py:

* Every worker builds the whole graph under tf.train.replica_device_setter (replica_device_function):
  variables on the ps tasks, its own ops (input pipeline, forward/backward) on /job:worker/task:I.  The global batch
  (--batch-size) is split over the workers; worker I reads shard I (every W-th example) of the data.
* tf.train.SyncReplicasOptimizer aggregates one gradient per worker and step (mean), and the chief's
  queue runner applies it once per step.  What it applies is AveragedStep: clip_by_global_norm on the
  *averaged* gradient, the momentum update, then the weight EMA -- training.py's order, so a W-worker
  step equals a single-process W-tower step on the concatenated batch (tests/cell/test_cluster.py).
  (SyncReplicasOptimizer's own `variable_averages` updates the shadows only after the step's tokens are
  released, so the chief could save its checkpoint before the last step's EMA update; inside
  AveragedStep the EMA is part of the update the tokens wait for.)
* No initial tokens: every worker pushes exactly one gradient and then waits for that step's update,
  so each update averages one gradient per worker, all computed from the same weights.
* BN moving statistics are updated by the chief (worker 0) only: the tower-0 convention of towers.py.
  The chief also keeps the smoothed loss and its streaming train accuracy over its own batches;
  "losses" in the result are the chief's per-step losses.
* The chief saves the checkpoint and evaluates it in a fresh local graph exactly as train() does.

On TF 1.14/1.15 constructing SyncReplicasOptimizer logs a deprecation notice (it points to Distribution
Strategies); TF 1.x has no other synchronous optimizer for between-graph parameter-server training, so
each worker logs it once (hidden from --log-level 2).

Fault injection (used by the tests; a real fault, not a mock): with RESNET_CORE_CLUSTER_FAULT=
"worker:<task>:<step>" in the environment, that worker raises RuntimeError instead of running that step.
"""
import argparse
import collections
import contextlib
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
import traceback

FAULT_ENV = "RESNET_CORE_CLUSTER_FAULT"
HOST = "127.0.0.1"
STOP_GRACE_SECONDS = 5.0
WAIT_FOR_CHIEF_SECONDS = 600
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


# ----------------------------------------------------------------------------- launcher (no TensorFlow here)
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
                argv = [sys.executable, "-m", "resnet_core.cluster", "--job", job, "--task", str(task),
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


# ----------------------------------------------------------------------------- in the task processes
def exit_with_parent():
    """Exit this task if the launcher that started it goes away (no orphans even if it is SIGKILLed)."""
    parent = int(os.environ.get("RESNET_CORE_CLUSTER_PARENT", os.getppid()))

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        try:  # its output went to the launcher: this write may well fail (broken pipe), exit anyway
            sys.stderr.write("cluster task: launcher (pid %d) is gone, exiting\n" % parent)
            sys.stderr.flush()
        finally:
            os._exit(3)

    threading.Thread(target=watch, name="cluster-parent-watch", daemon=True).start()


def start_server(spec, job, task, threads):
    from compat import session_config, tf1

    return tf1.train.Server(tf1.train.ClusterSpec(spec), job_name=job, task_index=task,
                            config=session_config(threads=threads), start=True)


def run_ps(spec, task, threads=None):
    """Serve variables until terminated by the launcher (or until the launcher is gone)."""
    start_server(spec, "ps", task, threads)
    while True:  # not server.join(): it blocks in C++ for ever, deaf to everything but SIGKILL
        time.sleep(3600)


def worker_device(task):
    return "/job:worker/task:%d" % task


def session_config_for(task, threads=None):
    """Session config of a worker: it only talks to the ps tasks and itself (device_filters), so it
    neither waits for nor depends on the other workers."""
    from compat import session_config

    config = session_config(threads=threads)
    config.device_filters.extend(["/job:ps", worker_device(task)])
    return config


class AveragedStep(object):
    """The optimizer SyncReplicasOptimizer wraps: what the chief applies to the averaged gradients.

    clip_by_global_norm (if clip_norm), the momentum update, then (if ema) the weight EMA under a
    control dependency on the update -- the order of training.build_training.  compute_gradients and
    the slot accessors are the wrapped optimizer's.
    """

    def __init__(self, optimizer, clip_norm=None, ema=None, ema_variables=()):
        self._opt = optimizer
        self._clip_norm = clip_norm
        self._ema = ema
        self._ema_variables = list(ema_variables)

    def compute_gradients(self, *args, **kwargs):
        return self._opt.compute_gradients(*args, **kwargs)

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        from compat import tf1

        pairs = list(grads_and_vars)
        if self._clip_norm:
            clipped, _ = tf1.clip_by_global_norm([g for g, _ in pairs], self._clip_norm)
            pairs = list(zip(clipped, [v for _, v in pairs]))
        apply_op = self._opt.apply_gradients(pairs, global_step=global_step)
        if not self._ema:
            return apply_op
        with tf1.control_dependencies([apply_op]):
            ema_op = self._ema.apply(self._ema_variables)
        return tf1.group(apply_op, ema_op, name=name or "averaged_step")

    def get_slot(self, *args, **kwargs):
        return self._opt.get_slot(*args, **kwargs)

    def get_slot_names(self, *args, **kwargs):
        return self._opt.get_slot_names(*args, **kwargs)

    def variables(self):
        return self._opt.variables()


def replica_device_function(cluster, device):
    """tf.train.replica_device_setter for worker `device` (variables on the ps tasks, round robin; every
    other op on the worker), answering Keras' device probe as the worker device.

    Standalone Keras' BatchNormalization asks for the current device by running the graph's device
    functions on a stand-in object (keras.backend.tensorflow_backend._TfDeviceCaptureOp), which the
    replica device setter cannot read (TF 1.12 + Keras 2.2.4: "AttributeError: 'DeviceSpec' object has
    no attribute 'split'"; TF 1.15 + Keras 2.2.5: "'_TfDeviceCaptureOp' object has no attribute
    'node_def'").  Real operations (and NodeDefs) go to the setter unchanged.
    """
    from compat import tf1

    setter = tf1.train.replica_device_setter(worker_device=device, cluster=cluster)
    # A DeviceSpec: TF 1.12 hands the stand-in whatever a device function returns and Keras reads its
    # .device_type; 1.14+ convert it to a string first (compat.keras turns that back into a DeviceSpec).
    worker = tf1.DeviceSpec.from_string(device)

    def device_function(op):
        if isinstance(op, (tf1.Operation, tf1.NodeDef)):
            return setter(op)
        return worker

    return device_function


Replica = collections.namedtuple("Replica", [
    "train_op", "mean_loss", "smoothed_loss", "accuracy_update", "global_step", "update_ops", "sync",
    "init_tokens", "is_chief", "device", "logits"])


def build_replica(images, labels, model_fn, spec, task, learning_rate=0.1, weight_decay=0.0, clip_norm=None,
                  ema_decay=None, loss_ema_decay=0.999):
    """Worker `task`'s graph of a synchronous step (between-graph replication); returns a Replica.

    images/labels: this worker's batch.  Call in a fresh default graph, after tf1.set_random_seed.
    """
    from compat import tf1
    from resnet_core.towers import build_towers
    from resnet_core.training import MOMENTUM

    cluster = tf1.train.ClusterSpec(spec)
    workers = cluster.num_tasks("worker")
    device = worker_device(task)
    is_chief = task == 0
    with tf1.device(replica_device_function(cluster, device)):
        global_step = tf1.train.get_or_create_global_step()
        lr = tf1.constant(learning_rate, tf1.float32, name="learning_rate")
        optimizer = tf1.train.MomentumOptimizer(lr, MOMENTUM)
        # Device "": no tower device of its own, so the replica device setter places the variables.
        towers = build_towers(images, labels, model_fn, [""], optimizer, weight_decay, training=True)
        grads_and_vars = towers.tower_grads[0]
        variables = [v for _, v in grads_and_vars]
        ema = tf1.train.ExponentialMovingAverage(ema_decay, num_updates=global_step) if ema_decay else None
        sync = tf1.train.SyncReplicasOptimizer(AveragedStep(optimizer, clip_norm, ema, variables),
                                               replicas_to_aggregate=workers, total_num_replicas=workers)
        sync_op = sync.apply_gradients(grads_and_vars, global_step=global_step)
        init_tokens = sync.get_init_tokens_op(num_tokens=0) if is_chief else None
        mean_loss = towers.tower_losses[0]
        update_ops = list(towers.update_ops) if is_chief else []
        group = [sync_op] + update_ops
        smoothed_loss = mean_loss
        if is_chief and loss_ema_decay:
            with tf1.control_dependencies([sync_op]):
                loss_ema = tf1.train.ExponentialMovingAverage(loss_ema_decay, num_updates=global_step, name="avg")
                group.append(loss_ema.apply([mean_loss]))
            smoothed_loss = loss_ema.average(mean_loss)
        train_op = tf1.group(*group, name="train_op")
    # The streaming accuracy's counters are this worker's own (local variables on its device, not the ps).
    with tf1.device(device):
        predictions = tf1.argmax(towers.logits[0], axis=1, output_type=tf1.int32)
        _, accuracy_update = tf1.metrics.accuracy(towers.labels[0], predictions, name="train_accuracy")
    return Replica(train_op, mean_loss, smoothed_loss, accuracy_update, global_step, update_ops, sync,
                   init_tokens, is_chief, device, towers.logits[0])


class ReplicaSession(object):
    """A session on this worker's server, initialised the way the SyncReplicasOptimizer needs.

    The chief initialises the variables, sets the accumulators' step, and runs the queue runner that
    applies the averaged gradients; other workers wait (polling every 0.2 s, not TF's 30 s) until the
    chief has initialised the variables.  Use as a context manager; `session` is the tf1.Session.
    """

    def __init__(self, replica, server, config, wait_seconds=WAIT_FOR_CHIEF_SECONDS):
        from compat import tf1

        self.replica = replica
        manager = tf1.train.SessionManager(local_init_op=tf1.local_variables_initializer(),
                                           ready_op=tf1.report_uninitialized_variables(),
                                           ready_for_local_init_op=replica.sync.ready_for_local_init_op,
                                           recovery_wait_secs=0.2)
        self.coord = tf1.train.Coordinator()
        self.threads = []
        if replica.is_chief:
            self.session = manager.prepare_session(server.target, init_op=tf1.global_variables_initializer(),
                                                   config=config)
            self.session.run(replica.sync.chief_init_op)
            self.session.run(replica.init_tokens)
            runner = replica.sync.get_chief_queue_runner()
            self.threads = runner.create_threads(self.session, coord=self.coord, daemon=True, start=True)
        else:
            self.session = manager.wait_for_session(server.target, config=config, max_wait_secs=wait_seconds)
            self.session.run(replica.sync.local_step_init_op)

    def __enter__(self):
        return self.session

    def __exit__(self, *exc):
        self.coord.request_stop()
        self.session.close()  # cancels the queue runner's pending take_grad on the ps
        self.coord.join(self.threads, stop_grace_period_secs=STOP_GRACE_SECONDS, ignore_live_threads=True)
        return False


@contextlib.contextmanager
def _keras_leaves_variables_alone(api):
    """Standalone Keras' BatchNormalization asks K.get_session() for the local devices while the graph is
    built, and get_session() then runs is_variable_initialized on every variable of the graph and
    initialises the rest: in a local session that cannot reach the cluster ("Cannot assign a device for
    operation ...: Operation was explicitly assigned to /job:worker/task:0"), and only the chief may
    initialise.  K.manual_variable_initialization(True) makes get_session() leave the variables alone."""
    if api != "keras":
        yield
        return
    from compat import keras as ck

    K = ck.backend("keras")
    K.manual_variable_initialization(True)
    try:
        yield
    finally:
        K.manual_variable_initialization(False)


def injected_fault(task, step, environ=None):
    """True if RESNET_CORE_CLUSTER_FAULT says worker `task` must fail at `step`."""
    value = (environ if environ is not None else os.environ).get(FAULT_ENV, "")
    return value == "worker:%d:%d" % (task, step)


def run_worker(args, spec, task, result_file=None):
    """Train as worker `task`; the chief (task 0) also saves, evaluates and writes the result JSON."""


    import compat
    from compat import tf1
    from resnet_core import checkpoint, data
    from resnet_core.run import Loop, describe_model, finish_run, prepare, seeded_numpy, versions

    workers = len(spec["worker"])
    _, (x_train, y_train, x_test, y_test), model_fn = prepare(args)
    server = start_server(spec, "worker", task, args.threads)
    graph = tf1.Graph()
    with graph.as_default():
        tf1.set_random_seed(args.seed)
        with tf1.device(worker_device(task)):
            dataset = data.make_input(x_train[task::workers], y_train[task::workers], args.batch_size // workers,
                                      repeat=True, shuffle_seed=args.seed)
            images, labels = compat.make_one_shot_iterator(dataset).get_next()
        with seeded_numpy(args.seed), _keras_leaves_variables_alone(args.api):
            replica = build_replica(images, labels, model_fn, spec, task, learning_rate=args.lr,
                                    weight_decay=args.weight_decay, clip_norm=args.clip_norm or None,
                                    ema_decay=args.ema_decay or None)
        devices = [worker_device(i) for i in range(workers)]
        result = describe_model(args, devices, len(replica.update_ops)) if replica.is_chief else None
        saver = checkpoint.saver_for_training() if replica.is_chief else None
        losses = []
        with ReplicaSession(replica, server, session_config_for(task, args.threads)) as sess:
            fetches = [replica.train_op, replica.mean_loss, replica.accuracy_update]
            start = timed_from = time.time()
            for step in range(1, args.steps + 1):
                if injected_fault(task, step):
                    raise RuntimeError("injected fault: worker %d at step %d (%s)" % (task, step, FAULT_ENV))
                _, loss, acc = sess.run(fetches)
                losses.append(float(loss))
                if step == 1 and args.steps > 1:
                    timed_from = time.time()
                if replica.is_chief and args.log_every and step % args.log_every == 0:
                    sys.stderr.write("step %d/%d loss %.4f smoothed %.4f train_acc %.4f\n"
                                     % (step, args.steps, loss, sess.run(replica.smoothed_loss), acc))
                    sys.stderr.flush()
            end = time.time()
            if not replica.is_chief:
                return None
            loop = Loop(losses, sess.run(replica.smoothed_loss), acc, start, timed_from, end)
            # Always saved (the chief's session is the only place the weights live), removed by finish_run.
            ckpt_dir = args.checkpoint_dir or tempfile.mkdtemp(prefix="resnet_core_")
            ckpt = checkpoint.save(sess, ckpt_dir, replica.global_step, saver)
    finish_run(args, result, loop, ckpt, ckpt_dir, model_fn, x_test, y_test)
    result.update(versions())
    if result_file:
        tmp = result_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, sort_keys=True)
        os.rename(tmp, result_file)
    return result


def parse_task_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m resnet_core.cluster",
                                description="One task of a local training cluster (started by resnet_core.train).")
    p.add_argument("--job", choices=("ps", "worker"), required=True)
    p.add_argument("--task", type=int, required=True)
    p.add_argument("--cluster-spec", required=True, help='JSON {"ps": [host:port, ...], "worker": [...]}')
    p.add_argument("--config", required=True, help="JSON of resnet_core.train's options")
    p.add_argument("--result-file", default=None, help="chief only: where to write the result JSON")
    return p.parse_args(argv)


def main(argv=None):
    """Run one task; never returns normally (see _exit)."""
    task_args = parse_task_args(argv)
    spec = json.loads(task_args.cluster_spec)
    args = argparse.Namespace(**json.loads(task_args.config))
    if args.log_level is not None:
        from compat.logs import set_log_level

        set_log_level(args.log_level)  # before TensorFlow is imported
    exit_with_parent()
    code = 0
    try:
        if task_args.job == "ps":
            run_ps(spec, task_args.task, args.threads)
        else:
            run_worker(args, spec, task_args.task, task_args.result_file)
    except BaseException:
        code = 1
        try:
            traceback.print_exc()
        except Exception:  # e.g. the launcher, which reads our output, is gone
            pass
    _exit(code)


def _exit(code):
    """Flush and leave without interpreter teardown.

    TF 1.x's gRPC server cannot be stopped (Server.stop raises UnimplementedError), and a normal exit
    runs its __del__ after TensorFlow's modules are torn down ("AttributeError: 'NoneType' object has no
    attribute 'UnimplementedError'" on 1.15), which would also bury a failing task's real last line.
    """
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


if __name__ == "__main__":
    main()
