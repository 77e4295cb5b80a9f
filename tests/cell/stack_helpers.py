"""Small shared builders for the training-stack tests (not a test module).

Everything is sized for the 2-minute cell budget: ResNet-8 (the CIFAR recipe with one block per stage:
every layer and shortcut kind of ResNet-20 at a third of the graph) on 8x8x1 digits, batches of a few
images.  A test whose subject is a given network (the CLI's resnet20 checkpoint) names it.
"""
import collections

import numpy as np

from compat import load_variables, session_config, tf1
from resnet_core.arch import resnet_arch
from resnet_core.graph_model import build_logits

DIGIT_SHAPE = (8, 8, 1)

Recorded = collections.namedtuple("Recorded", "initial weights losses smoothed global_steps logits labels "
                                              "accuracies final checkpoint names")


MODEL = "resnet8"


def model_fn(bn="layers", model=MODEL):
    arch = resnet_arch(model, num_classes=10)

    def fn(images, training):
        return build_logits(images, arch, training, bn=bn)

    return fn


def placeholders(batch=None):
    images = tf1.placeholder(tf1.float32, (batch,) + DIGIT_SHAPE, name="images")
    labels = tf1.placeholder(tf1.int32, (batch,), name="labels")
    return images, labels


def batches(digits, batch, count):
    """`count` consecutive (x, y) batches from the digits training split."""
    x, y = digits[0], digits[1]
    return [(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]) for i in range(count)]


def record_training(digits, steps, checkpoint_dir=None, batch=8, towers=1, **options):
    """Run `steps` training steps on fixed digits batches, recording what the tests compare.

    Returns Recorded: trainable weights before/after every step (by name), per-step mean and
    smoothed loss, global_step, concatenated logits/labels, running accuracy, the final values of
    every global variable, and (if checkpoint_dir) the checkpoint path.
    """
    from resnet_core import checkpoint
    from resnet_core.training import build_training, initialize

    graph = tf1.Graph()
    with graph.as_default():
        tf1.set_random_seed(0)
        images, labels = placeholders(batch)
        devices = ["/cpu:%d" % i for i in range(towers)]
        tg = build_training(images, labels, model_fn(), devices, **options)
        trainable = tf1.trainable_variables()
        names = [v.op.name for v in trainable]
        with tf1.Session(graph=graph, config=session_config(threads=1, cpu_devices=towers)) as sess:
            initialize(sess)
            initial = dict(zip(names, sess.run(trainable)))
            rec = {k: [] for k in ("weights", "losses", "smoothed", "global_steps", "logits", "labels", "accuracies")}
            for x, y in batches(digits, batch, steps):
                _, loss, acc, logits = sess.run([tg.train_op, tg.mean_loss, tg.accuracy_update, tg.logits],
                                                {images: x, labels: y})
                # Variables are read in a run of their own: fetched next to train_op they may be
                # read before or after their update.
                weights, smoothed, step = sess.run([trainable, tg.smoothed_loss, tg.global_step])
                rec["weights"].append(dict(zip(names, weights)))
                rec["losses"].append(loss)
                rec["smoothed"].append(smoothed)
                rec["global_steps"].append(step)
                rec["logits"].append(logits)
                rec["labels"].append(y)
                rec["accuracies"].append(acc)
            variables = tf1.global_variables()
            final = dict(zip([v.op.name for v in variables], sess.run(variables)))
            path = checkpoint.save(sess, checkpoint_dir, tg.global_step) if checkpoint_dir else None
    return Recorded(initial, rec["weights"], np.array(rec["losses"]), np.array(rec["smoothed"]),
                    rec["global_steps"], rec["logits"], rec["labels"], rec["accuracies"], final, path, names)


def logits_with_values(values, x, bn="layers", model=MODEL):
    """Inference logits of a fresh `model` whose every variable is *assigned* from `values` (by name)."""
    graph = tf1.Graph()
    with graph.as_default():
        images, _ = placeholders()
        with tf1.variable_scope("resnet"):
            logits = model_fn(bn, model)(images, False)
        variables = tf1.global_variables()
        with tf1.Session(graph=graph, config=session_config(threads=1)) as sess:
            load_variables(sess, {v: values[v.op.name] for v in variables})
            return sess.run(logits, {images: x})
