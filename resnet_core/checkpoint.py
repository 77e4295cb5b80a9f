"""Checkpoints and evaluation with averaged (EMA) weights.

The Saver covers *global* variables, not just trainable ones: BN moving statistics, EMA shadows,
optimizer slots and global_step are all non-trainable, and a trainable-only Saver silently drops
them (the classic "my restored model predicts garbage in inference mode" bug).
"""
import os

import numpy as np

from compat import session_config, tf1


def saver_for_training(max_to_keep=2):
    return tf1.train.Saver(tf1.global_variables(), max_to_keep=max_to_keep)


def save(session, directory, global_step, saver=None):
    """Write a checkpoint under `directory`; returns its path prefix."""
    if not os.path.isdir(directory):
        os.makedirs(directory)
    saver = saver or saver_for_training()
    return saver.save(session, os.path.join(directory, "model.ckpt"), global_step=global_step)


def evaluate(checkpoint, model_fn, x, y, ema_decay=None, batch_size=256, threads=None):
    """Accuracy of the checkpointed model on (x, y) in a fresh graph, BN in inference mode.

    With ema_decay set, `variables_to_restore()` maps each trainable variable to its shadow
    ('<name>/ExponentialMovingAverage') and every other model variable (BN moving statistics) to
    itself, so the fresh graph evaluates the averaged weights under their ordinary names.
    Returns (accuracy, logits).
    """
    graph = tf1.Graph()
    with graph.as_default():
        images = tf1.placeholder(tf1.float32, (None,) + tuple(x.shape[1:]), name="images")
        with tf1.variable_scope("resnet"):
            logits = model_fn(images, False)
        if ema_decay:
            mapping = tf1.train.ExponentialMovingAverage(ema_decay).variables_to_restore()
        else:
            mapping = tf1.global_variables()
        saver = tf1.train.Saver(mapping)
        with tf1.Session(graph=graph, config=session_config(threads=threads)) as sess:
            saver.restore(sess, checkpoint)
            out = [sess.run(logits, {images: x[i:i + batch_size]}) for i in range(0, len(x), batch_size)]
    out = np.concatenate(out, axis=0)
    return float(np.mean(np.argmax(out, axis=1) == y)), out
