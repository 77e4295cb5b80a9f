"""Exercise compat + resnet_core in a fresh process and report TF deprecation notices raised from our frames.

Run as a FILE (not python -c): TF 1.14/1.15 suppress "The name tf.X is deprecated" for code
whose frame filename starts with '<'.  Usage: deprecation_notices.py REPO [batch-norm implementation ...] (default: all)
Notices are raised while graphs are *built*, so nothing is run in a session (keeps it fast).
Prints one JSON line {step: [notice, ...]} where a notice is kept only if its "From <file>:<line>"
location is one of our source files (REPO/compat, REPO/resnet_core, REPO/tests).
"""
import json
import logging
import os
import re
import sys

REPO = os.path.realpath(sys.argv[1])
IMPLS = sys.argv[2:]
records = []


class _Grab(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())


logging.getLogger("tensorflow").addHandler(_Grab())

import compat  # noqa: E402
from compat import tf1  # noqa: E402
from resnet_core import arch as arch_lib  # noqa: E402
from resnet_core import batchnorm, graph_model  # noqa: E402

# Small, but every primitive of the builder: stem pool, option-A pad, projection, bottleneck.
TINY = arch_lib.Arch("tiny", "test", 0, 1, 4, 3, 1, True,
                     (arch_lib.BlockSpec("basic", 8, 2, "pad", "stage1/block0"),
                      arch_lib.BlockSpec("bottleneck", 4, 2, "projection", "stage2/block0")), 3)


# Our sources.  Not "anything under REPO": the harness keeps cell envs (site-packages) inside it.
OURS = tuple(os.path.join(REPO, d) + os.sep for d in ("compat", "resnet_core", "tests"))
FROM = re.compile(r"^From (.+?):\d+: ")


def ours():
    found = []
    for message in records:
        match = FROM.match(message)
        if "deprecat" in message and match and os.path.realpath(match.group(1)).startswith(OURS):
            found.append(message.splitlines()[0])
    del records[:]
    return found


def use_compat():
    with tf1.Graph().as_default():
        ds = tf1.data.Dataset.range(4).map(tf1.negative, num_parallel_calls=compat.AUTOTUNE).batch(2)
        compat.dataset_output_shapes(ds)
        nxt = compat.make_one_shot_iterator(ds).get_next()
        it = compat.make_initializable_iterator(ds)
        x = tf1.placeholder(tf1.float32, [2, 4, 4, 3])
        m, v = compat.moments(x, [0, 1, 2], keepdims=True)
        w = tf1.get_variable("w", [3], initializer=tf1.zeros_initializer(), trainable=False)
        upd = compat.assign_moving_average(w, tf1.reshape(m, [-1]), 0.9, zero_debias=False)
        y = compat.fused_batch_norm(x, tf1.ones([3]), tf1.zeros([3]), is_training=True)[0]
        k = tf1.get_variable("k", [1, 1, 3, 2])
        c = compat.conv2d(x, k, 1)
        compat.get_logger()
        compat.tower_devices(2)
        compat.gpu_devices()
        compat.session_config(threads=1, cpu_devices=2)
        return [nxt, it.initializer, upd, y, c, v, tf1.global_variables_initializer()]


def build_once(impl):
    with tf1.Graph().as_default():
        images = tf1.placeholder(tf1.float32, [4, 8, 8, 1])
        labels = tf1.placeholder(tf1.int32, [4])
        training = tf1.placeholder_with_default(True, [])
        with tf1.variable_scope("resnet"):
            logits = graph_model.build_logits(images, TINY, training, bn=impl, weight_init_seed=1)
        loss = tf1.losses.sparse_softmax_cross_entropy(labels, logits)
        with tf1.control_dependencies(tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)):
            return tf1.identity(loss)


def positive_control():
    """A use of an API deprecated on every TF 1.12-2.21, on purpose, from this (our) file: if the capture
    above were broken (a silenced logger, a detached handler, a changed message format), this step would
    report nothing and the test fails instead of passing on silence.  tf.Print: its notice names this file on
    every release measured (1.12, 1.15, 2.0, 2.11, 2.15, 2.21); softmax_cross_entropy_with_logits, the control
    before, is reported from TF's dispatch.py from 2.11 on (its deprecation sits under the dispatch wrapper)."""
    with tf1.Graph().as_default():
        logits = tf1.placeholder(tf1.float32, [2, 3])
        tf1.Print(logits, [logits])


found = {}
use_compat()
found["compat"] = ours()
for impl in IMPLS or batchnorm.IMPLEMENTATIONS:
    build_once(impl)
    found[impl] = ours()
positive_control()  # last: proves the capture still worked after every step above
found["control"] = ours()
print(json.dumps(found))
