"""What every training path shares (one process, a cluster's tasks, the bench): the model flavours,
the dataset defaults, preparing data and model, the loop's record and how a run's result is completed.

train.py (the CLI and the single-process loop), cluster.py (the local cluster) and bench.py import
this module; none of them imports another's internals, so there is no import circle.
"""
import collections
import contextlib
import shutil
import time

# What an option left unset (None) means depends on the dataset; one row per dataset, applied by
# apply_dataset_defaults() to the CLI and to config_from() alike.  Measured, not guessed (every other
# option at its default: batch 64, lr 0.1, weight EMA 0.999 evaluated from the checkpoint):
#   digits, 200 steps: EMA test accuracy 0.972-0.994 for --api graph, keras and tf.keras, seeds 0-3, on
#   TF 1.12 and 1.15 (raw weights 0.972-0.994); 150 steps: 0.977-0.989 but the raw weights of a 2-worker
#   run fell to 0.94; 100 steps: 0.969-0.975 (raw 0.961); 20 steps (the old default): 0.84 graph, 0.64 keras.
#   synthetic has random labels, nothing to learn: 20 steps are a plumbing and throughput smoke.
DATASET_DEFAULTS = {
    "synthetic": dict(steps=20),
    "digits": dict(steps=200),
}


def _graph_model_fn(arch, bn, data_format):
    from resnet_core.graph_model import build_logits

    def model_fn(images, training):
        return build_logits(images, arch, training, bn=bn, data_format=data_format)

    return model_fn


def _keras_model_fn(flavour):
    """Keras layers in the same towers (resnet_core.keras_layers, helper H3); imported only when chosen."""
    def factory(arch, bn, data_format):
        from resnet_core.keras_layers import tower_model_builder

        return tower_model_builder(flavour)(arch, bn, data_format)

    return factory


MODEL_BUILDERS = {"graph": _graph_model_fn, "keras": _keras_model_fn("keras"), "tf.keras": _keras_model_fn("tf.keras")}


def unavailable_api(api):
    """Why --api `api` cannot run on this cell (compat's reason for its Keras flavour), or None."""
    if api not in MODEL_BUILDERS:
        raise ValueError("api must be one of %s, got %r" % (sorted(MODEL_BUILDERS), api))
    if api == "graph":
        return None
    from compat import keras as ck

    return ck.unavailable(api)


def available_apis():
    """The --api values this cell can train with, in (graph, keras, tf.keras) order."""
    return [api for api in ("graph", "keras", "tf.keras") if unavailable_api(api) is None]


def make_model_fn(api, arch, bn, data_format):
    """The one place a model flavour is chosen (the --api hook)."""
    return MODEL_BUILDERS[api](arch, bn, data_format)


def apply_dataset_defaults(args):
    """Fill every option left None from its DATASET_DEFAULTS row (idempotent); returns args."""
    for name, value in DATASET_DEFAULTS[args.dataset].items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    return args


def describe_model(args, devices, update_ops):
    """Summary of the model in the default graph.

    model_variables counts everything under 'resnet/': in a training graph that includes
    optimizer slots and EMA shadows, for --steps 0 only the model's own variables.
    """
    import numpy as np

    from compat import tf1

    trainable = tf1.get_collection(tf1.GraphKeys.TRAINABLE_VARIABLES, "resnet/")
    return {
        "model": args.model, "api": args.api, "dataset": args.dataset, "bn": args.bn,
        "data_format": args.data_format, "towers": args.towers, "devices": list(devices),
        "batch_size": args.batch_size, "seed": args.seed, "steps": args.steps,
        "trainable_params": int(sum(np.prod(v.shape.as_list()) for v in trainable)),
        "layers": sum(1 for v in trainable if v.op.name.endswith("/kernel")),
        "model_variables": len(tf1.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES, "resnet/")),
        "update_ops": update_ops,
    }


def versions():
    import compat

    info = compat.describe()
    return {"tensorflow": info.get("tensorflow"), "keras": info.get("keras"), "python": info.get("python")}


@contextlib.contextmanager
def seeded_numpy(seed):
    """numpy's global RNG seeded from `seed` while graphs are built; the caller's state is restored after.

    Standalone Keras initializers (keras/initializers.py, both 2.2.4 and 2.2.5) pass seed=None to
    K.truncated_normal / K.random_uniform, and keras/backend/tensorflow_backend.py then draws the
    op seed from numpy's global RNG: `seed = np.random.randint(10e6)` (one draw per conv kernel and
    per dense kernel).  tf.set_random_seed does not reach those draws, so without this every fresh
    process started --api keras from different weights (measured: 0.64, 0.82, 0.41 test accuracy on
    three runs of the same command).  Python's `random` is not used by Keras or TF graph building
    (checked: its state is unchanged by a --api keras build), so it is left alone.
    """
    import numpy as np

    state = np.random.get_state()
    np.random.seed(seed % (2 ** 32))
    try:
        yield
    finally:
        np.random.set_state(state)


def prepare(args):
    """(arch, (x_train, y_train, x_test, y_test), model_fn) for args: what every training path needs."""
    from resnet_core import data
    from resnet_core.arch import resnet_arch

    apply_dataset_defaults(args)
    # Synthetic data takes the architecture's own class count (10 CIFAR, 1000 ImageNet).
    arch = resnet_arch(args.model, num_classes=data.DIGITS_CLASSES if args.dataset == "digits" else None)
    x_train, y_train, x_test, y_test, _ = data.load_dataset(args.dataset, seed=args.seed,
                                                            num_classes=arch.num_classes)
    model_fn = make_model_fn(args.api, arch, args.bn, args.data_format)
    return arch, (x_train, y_train, x_test, y_test), model_fn


def evaluate_checkpoint(args, ckpt, model_fn, x_test, y_test):
    """Test accuracy of a training checkpoint, each in a fresh graph (the path a user's eval job takes).

    With EMA on, "test_accuracy" is the averaged weights' accuracy (what eval_weights says) and
    "test_accuracy_raw" the raw weights'; with EMA off both are the raw weights' one number.
    """
    from resnet_core import checkpoint

    accuracy, _ = checkpoint.evaluate(ckpt, model_fn, x_test, y_test, ema_decay=args.ema_decay or None,
                                      threads=args.threads)
    raw = accuracy
    if args.ema_decay:
        raw, _ = checkpoint.evaluate(ckpt, model_fn, x_test, y_test, ema_decay=None, threads=args.threads)
    return {"test_accuracy": accuracy, "test_accuracy_raw": raw, "eval_weights": "ema" if args.ema_decay else "raw"}


Loop = collections.namedtuple("Loop", "losses smoothed_loss train_accuracy start timed_from end")


def run_steps(sess, fetches, smoothed_loss, steps, log_every=0, progress=None, before_step=None):
    """The training loop of train() and of every cluster worker: `steps` runs of fetches (train_op, loss,
    accuracy update); a Loop. The first step pays for graph optimisation, so timing starts after it.
    smoothed_loss is a variable, read after a step (not beside train_op); None: not read (a non-chief worker,
    where reading it would run another forward pass)."""
    losses, accuracy = [], None
    start = timed_from = time.time()
    for step in range(1, steps + 1):
        if before_step is not None:
            before_step(step)
        _, loss, accuracy = sess.run(fetches)
        losses.append(float(loss))
        if step == 1 and steps > 1:
            timed_from = time.time()
        if progress and log_every and step % log_every == 0:
            progress("step %d/%d loss %.4f smoothed %.4f train_acc %.4f"
                     % (step, steps, loss, sess.run(smoothed_loss), accuracy))
    end = time.time()
    return Loop(losses, sess.run(smoothed_loss) if smoothed_loss is not None else None, accuracy, start,
                timed_from, end)
"""What a training loop measured: per-step losses, the last smoothed loss and streaming accuracy, and the
clock at the start, after step 1 (graph optimisation excluded from throughput) and at the end."""


def finish_run(args, result, loop, ckpt, ckpt_dir, model_fn, x_test, y_test):
    """Complete `result` the one way every training path does (one process, a cluster's chief): evaluate the
    checkpoint when asked, delete it unless --checkpoint-dir keeps it, add the loop's figures."""
    import numpy as np

    evaluation = {"test_accuracy": None, "test_accuracy_raw": None, "eval_weights": "ema" if args.ema_decay else "raw"}
    try:
        if args.evaluate:
            evaluation = evaluate_checkpoint(args, ckpt, model_fn, x_test, y_test)
    finally:
        if ckpt_dir and not args.checkpoint_dir:
            shutil.rmtree(ckpt_dir, ignore_errors=True)
    timed_steps = args.steps - 1 if args.steps > 1 else 1
    result.update(evaluation)
    result.update({
        "final_loss": loop.losses[-1], "smoothed_loss": float(loop.smoothed_loss),
        "train_accuracy": float(loop.train_accuracy),
        "images_per_sec": timed_steps * args.batch_size / max(loop.end - loop.timed_from, 1e-9),
        "train_seconds": loop.end - loop.start, "losses": loop.losses,
        "finite": bool(np.all(np.isfinite(loop.losses))), "checkpoint": ckpt if args.checkpoint_dir else None,
    })
    return result
