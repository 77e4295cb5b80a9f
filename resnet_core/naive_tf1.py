"""The stack's training step written the naive way: plain TF 1.x names, no compat layer, on purpose.

`python -m resnet_core.naive_tf1` builds and runs two steps of a small conv net with BN, L2, clipping,
momentum, weight EMA, a summary and a checkpoint, the way TF1 tutorials of the 1.4-1.12 era wrote them,
and prints one JSON line: the distinct deprecation notices TensorFlow logged while doing it, and the error
that stopped it where it does not run at all (TF 2.x: `tf.set_random_seed` is gone).  That count
per cell is the migration burden a user's unported code carries on that release (resnet_core itself goes
through compat/ and triggers none of its own: tests/cell/test_deprecations.py).  Run from this file in a
fresh process: notices print once per process, and 1.14/1.15 hide some for code run from a string.
"""
import json
import logging
import re
import shutil
import tempfile

notices = []


class _Capture(logging.Handler):
    def emit(self, record):
        message = record.getMessage()
        if "deprecat" in message.lower():
            notices.append(message)


logging.getLogger("tensorflow").addHandler(_Capture())

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

FROM = re.compile(r"^From .+?:\d+: ")


def naive_training(steps=2):
    tf.set_random_seed(0)
    x = tf.placeholder(tf.float32, [None, 8, 8, 1])
    y = tf.placeholder(tf.int64, [None])
    training = tf.placeholder_with_default(True, [])
    net = tf.layers.conv2d(x, 8, 3, padding="same", use_bias=False,
                           kernel_regularizer=tf.contrib.layers.l2_regularizer(1e-4))
    net = tf.nn.relu(tf.layers.batch_normalization(net, training=training))
    net = tf.reduce_mean(net, axis=[1, 2])
    logits = tf.layers.dense(net, 10)
    loss = tf.losses.sparse_softmax_cross_entropy(y, logits) + tf.losses.get_regularization_loss()
    accuracy = tf.reduce_mean(tf.to_float(tf.equal(tf.argmax(logits, 1), y)))
    tf.summary.scalar("loss", loss)
    global_step = tf.train.get_or_create_global_step()
    optimizer = tf.train.MomentumOptimizer(0.1, 0.9)
    grads, variables = zip(*optimizer.compute_gradients(loss))
    grads, _ = tf.clip_by_global_norm(grads, 5.0)
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        step = optimizer.apply_gradients(zip(grads, variables), global_step=global_step)
    ema = tf.train.ExponentialMovingAverage(0.99, num_updates=global_step)
    with tf.control_dependencies([step]):
        train_op = ema.apply(tf.trainable_variables())
    summaries = tf.summary.merge_all()
    saver = tf.train.Saver(tf.global_variables())
    directory = tempfile.mkdtemp(prefix="naive_tf1_")
    try:
        rng = np.random.RandomState(0)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            writer = tf.summary.FileWriter(directory, sess.graph)
            for _ in range(steps):
                feed = {x: rng.uniform(size=(4, 8, 8, 1)), y: rng.randint(0, 10, 4)}
                _, summary, _ = sess.run([train_op, summaries, accuracy], feed)
                writer.add_summary(summary)
            writer.close()
            saver.save(sess, directory + "/model.ckpt", global_step=global_step)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    breaks = None
    try:
        with tf.Graph().as_default():
            naive_training()
    except Exception as exc:  # on TF 2.x unported 1.x code stops at its first missing name: a finding
        breaks = "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0][:300] if str(exc) else "")
    distinct = sorted(set(FROM.sub("", n).splitlines()[0] for n in notices))
    # breaks: the error that stopped the naive code on this release (None: it ran); the notices are those seen
    # before it stopped, so a count is never read as "runs clean" when the code did not run.
    print(json.dumps({"notices": distinct, "breaks": breaks}))
