"""One task of a local training cluster: `python -m resnet_core.cluster_task --job ps|worker --task I ...`,
started by the supervisor (resnet_core/cluster.py).

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
import json
import os
import sys
import tempfile
import threading
import time
import traceback

from resnet_core.cluster import FAULT_ENV, STOP_GRACE_SECONDS

WAIT_FOR_CHIEF_SECONDS = 600


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


def injected_fault(task, step, environ=None):
    """True if RESNET_CORE_CLUSTER_FAULT says worker `task` must fail at `step`."""
    value = (environ if environ is not None else os.environ).get(FAULT_ENV, "")
    return value == "worker:%d:%d" % (task, step)


def run_worker(args, spec, task, result_file=None):
    """Train as worker `task`; the chief (task 0) also saves, evaluates and writes the result JSON."""
    import compat
    from compat import keras as ck
    from compat import tf1
    from resnet_core import checkpoint, data
    from resnet_core.run import describe_model, finish_run, prepare, run_steps, seeded_numpy, versions

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
        with seeded_numpy(args.seed), ck.variables_left_alone(args.api):
            replica = build_replica(images, labels, model_fn, spec, task, learning_rate=args.lr,
                                    weight_decay=args.weight_decay, clip_norm=args.clip_norm or None,
                                    ema_decay=args.ema_decay or None)
        devices = [worker_device(i) for i in range(workers)]
        result = describe_model(args, devices, len(replica.update_ops)) if replica.is_chief else None
        saver = checkpoint.saver_for_training() if replica.is_chief else None
        with ReplicaSession(replica, server, session_config_for(task, args.threads)) as sess:
            def before_step(step):
                if injected_fault(task, step):
                    raise RuntimeError("injected fault: worker %d at step %d (%s)" % (task, step, FAULT_ENV))

            loop = run_steps(sess, [replica.train_op, replica.mean_loss, replica.accuracy_update],
                             replica.smoothed_loss if replica.is_chief else None, args.steps,
                             args.log_every if replica.is_chief else 0, _to_stderr, before_step)
            if not replica.is_chief:
                return None
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


def _to_stderr(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def parse_task_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m resnet_core.cluster_task",
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
