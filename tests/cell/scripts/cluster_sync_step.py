"""Two synchronous workers vs one process: the same update, variable by variable (for test_cluster.py).

Usage: cluster_sync_step.py (no arguments).  It starts a real local cluster (1 ps + 2 workers, each
this script with --job/--task, through resnet_core.cluster.Cluster), in which every worker builds
resnet_core.cluster_task.build_replica on its fixed digits batch per step and runs STEPS synchronous steps;
the chief saves every global variable before and after.  Then, in this process, the single-process
stack (training.build_training) starts from the chief's initial values and runs the same STEPS steps
on the concatenated batches [worker 0's; worker 1's] over two towers, and the two are compared.
Prints one JSON line (see the end of main()).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np

STEPS = 2
BATCH = 8  # per worker
OPTIONS = dict(learning_rate=0.1, weight_decay=1e-3, clip_norm=2.0, ema_decay=0.9)


def worker_batch(digits, step, task, workers=2):
    x, y = digits[0], digits[1]
    start = (step * workers + task) * BATCH
    return x[start:start + BATCH], y[start:start + BATCH]


def model_fn():
    """A small ResNet with every kind of variable the stack trains (conv kernels, BN gamma/beta and moving
    statistics, an option-A and a projection shortcut, the dense head): the subject here is the synchronous
    step, and ResNet-20's ~4k-op graph would triple the cost of every process."""
    from resnet_core import arch as arch_lib
    from resnet_core.graph_model import build_logits

    arch = arch_lib.Arch("sync-test", "test", 0, 1, 8, 3, 1, False,
                         (arch_lib.BlockSpec("basic", 16, 2, "pad", "stage1/block0"),
                          arch_lib.BlockSpec("basic", 24, 2, "projection", "stage2/block0")), 10)
    return lambda images, training: build_logits(images, arch, training, bn="layers")


def placeholders(batch):
    from compat import tf1

    return (tf1.placeholder(tf1.float32, (batch, 8, 8, 1), name="images"),
            tf1.placeholder(tf1.int32, (batch,), name="labels"))


def run_task(job, task, spec, out):
    from resnet_core import cluster_task as cluster

    cluster.exit_with_parent()
    if job == "ps":
        cluster.run_ps(spec, task, threads=1)
    from compat import tf1
    from resnet_core.data import load_digits_split

    digits = load_digits_split()
    server = cluster.start_server(spec, "worker", task, threads=1)
    with tf1.Graph().as_default():
        tf1.set_random_seed(0)
        images, labels = placeholders(BATCH)
        replica = cluster.build_replica(images, labels, model_fn(), spec, task, **OPTIONS)
        variables = tf1.global_variables()
        with cluster.ReplicaSession(replica, server, cluster.session_config_for(task, threads=1)) as sess:
            before = sess.run(variables) if replica.is_chief else None
            losses = []
            for step in range(STEPS):
                x, y = worker_batch(digits, step, task)
                _, loss = sess.run([replica.train_op, replica.mean_loss], {images: x, labels: y})
                losses.append(float(loss))
            if replica.is_chief:
                after = sess.run(variables)
                names = [v.op.name for v in variables]
                np.savez(os.path.join(out, "chief.npz"), *(before + after))
                with open(os.path.join(out, "chief.json"), "w") as f:
                    json.dump({"names": names, "losses": losses, "update_ops": len(replica.update_ops)}, f)


def reference(digits, initial, towers):
    """The single-process stack from `initial` values: STEPS steps on [worker 0's; worker 1's] batches
    (towers=2), or on worker 0's batches alone (towers=1, the control).  Returns ({name: value}, losses)."""
    from compat import session_config, tf1
    from resnet_core.training import build_training

    with tf1.Graph().as_default() as graph:
        images, labels = placeholders(BATCH * towers)
        tg = build_training(images, labels, model_fn(), ["/cpu:%d" % i for i in range(towers)], **OPTIONS)
        variables = tf1.global_variables()
        with tf1.Session(graph=graph, config=session_config(threads=1, cpu_devices=towers)) as sess:
            sess.run(tf1.local_variables_initializer())
            missing = []
            for v in variables:
                if v.op.name in initial:
                    v.load(initial[v.op.name], sess)
                else:
                    missing.append(v.op.name)
                    sess.run(v.initializer)
            tower_losses, norms = [], []
            for step in range(STEPS):
                batches = [worker_batch(digits, step, task) for task in range(towers)]
                feed = {images: np.concatenate([b[0] for b in batches]),
                        labels: np.concatenate([b[1] for b in batches])}
                _, losses, norm = sess.run([tg.train_op, tg.tower_losses, tg.global_norm], feed)
                tower_losses.append([float(v) for v in losses])
                norms.append(float(norm))
            values = dict(zip([v.op.name for v in variables], sess.run(variables)))
    return values, tower_losses, norms, missing


def main():
    from resnet_core import cluster
    from resnet_core.data import load_digits_split

    out = tempfile.mkdtemp(prefix="cluster_sync_step_")
    try:
        spec = cluster.local_cluster_spec(1, 2)
        spec_json = json.dumps(spec)

        def command(job, task):
            return [sys.executable, os.path.abspath(__file__), "--job", job, "--task", str(task),
                    "--cluster-spec", spec_json, "--out", out]

        with cluster.Cluster(spec, command) as running:
            running.wait(timeout=600)
        with open(os.path.join(out, "chief.json")) as f:
            chief = json.load(f)
        arrays = np.load(os.path.join(out, "chief.npz"))
        values = [arrays["arr_%d" % i] for i in range(len(arrays.files))]
    finally:
        shutil.rmtree(out, ignore_errors=True)
    names = chief["names"]
    before = dict(zip(names, values[:len(names)]))
    after = dict(zip(names, values[len(names):]))

    digits = load_digits_split()
    ref, ref_losses, norms, missing = reference(digits, before, towers=2)
    control, _, _, _ = reference(digits, before, towers=1)
    # Compared: every variable both graphs have, except the smoothed loss's shadow (the chief averages
    # its own loss, the single process the mean over towers: by design not the same quantity).
    compared = sorted(n for n in names if n in ref and "/avg" not in n and not n.startswith("avg"))

    def max_diff(a, b):
        return max(float(np.max(np.abs(np.asarray(a[n], np.float64) - np.asarray(b[n], np.float64))))
                   for n in compared)

    def scale(n):
        return max(float(np.max(np.abs(ref[n]))), 1e-3)

    print(json.dumps({
        "compared": compared,
        "chief_only": sorted(n for n in names if n not in ref),
        "reference_only": sorted(n for n in ref if n not in names),
        "initialised_in_reference": missing,
        "max_abs_diff": max_diff(after, ref),
        "max_rel_diff": max(float(np.max(np.abs(after[n] - ref[n]))) / scale(n) for n in compared),
        "changed_by_training": min(float(np.max(np.abs(after[n] - before[n]))) for n in compared
                                   if n.endswith(("/kernel", "/moving_mean", "/ExponentialMovingAverage"))),
        "control_max_abs_diff": max_diff(after, control),
        "chief_losses": chief["losses"],
        "reference_tower0_losses": [losses[0] for losses in ref_losses],
        "reference_global_norms": norms,
        "clip_norm": OPTIONS["clip_norm"],
        "chief_update_ops": chief["update_ops"],
        "global_step": int(after["global_step"]),
    }))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--job")
    parser.add_argument("--task", type=int)
    parser.add_argument("--cluster-spec")
    parser.add_argument("--out")
    task_args = parser.parse_args()
    if task_args.job:
        run_task(task_args.job, task_args.task, json.loads(task_args.cluster_spec), task_args.out)
    else:
        main()
