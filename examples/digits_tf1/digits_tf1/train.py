"""Training, evaluation and checkpoints for the digits CNN (TF1 graph + Session).

    python -m digits_tf1.train --steps 400 --checkpoint-dir /tmp/digits

The train op runs, in order: the batch-norm moving-statistics updates (UPDATE_OPS), the
momentum step on cross-entropy + L2, then the exponential moving average of the weights.
Evaluation can use the raw weights or the EMA shadows restored from a checkpoint.
"""
import argparse
import json
import os
import time

import numpy as np
import tensorflow as tf

from digits_tf1 import data, model
from digits_tf1.runtime import quiet, session_config

tf1 = tf.compat.v1

CHECKPOINT_NAME = "model.ckpt"


class Config(object):
    def __init__(self, steps=400, batch_size=64, learning_rate=0.05, momentum=0.9, weight_decay=1e-4,
                 ema_decay=0.99, seed=0):
        self.steps, self.batch_size, self.seed = steps, batch_size, seed
        self.learning_rate, self.momentum = learning_rate, momentum
        self.weight_decay, self.ema_decay = weight_decay, ema_decay


class TrainGraph(object):
    """Everything one training run needs, built once into its own graph and then finalized."""

    def __init__(self, config, train_split):
        self.config = config
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf1.set_random_seed(config.seed)
            self.iterator = data.make_iterator(data.train_dataset(train_split, config.batch_size, config.seed))
            images, labels = self.iterator.get_next()
            train_logits = model.logits(images, training=True)
            self.cross_entropy = tf1.losses.sparse_softmax_cross_entropy(labels, train_logits)
            self.loss = self.cross_entropy + model.weight_decay_loss(config.weight_decay)
            self.global_step = tf1.train.get_or_create_global_step()
            optimizer = tf1.train.MomentumOptimizer(config.learning_rate, config.momentum)
            # Without this dependency the BN moving statistics never move (and inference
            # quietly runs on mean 0 / variance 1).
            self.update_ops = tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)
            with tf.control_dependencies(self.update_ops):
                step = optimizer.minimize(self.loss, global_step=self.global_step)
            self.ema = tf1.train.ExponentialMovingAverage(config.ema_decay)
            with tf.control_dependencies([step]):
                self.train_op = self.ema.apply(tf1.trainable_variables())
            self.eval_images = tf1.placeholder(tf.float32, [None, data.IMAGE_SIZE, data.IMAGE_SIZE, 1],
                                               name="eval_images")
            self.eval_logits = model.logits(self.eval_images, training=False)
            self.init_op = tf.group(tf1.global_variables_initializer(), self.iterator.initializer)
            self.saver = tf1.train.Saver(max_to_keep=2)
        self.graph.finalize()

    def session(self):
        sess = tf1.Session(graph=self.graph, config=session_config())
        sess.run(self.init_op)
        return sess


def predict_logits(sess, logits, images_ph, images, batch_size=512):
    return np.concatenate([sess.run(logits, {images_ph: images[i:i + batch_size]})
                           for i in range(0, len(images), batch_size)])


def accuracy(logits, labels):
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def train(config, train_split, test_split, checkpoint_dir=None):
    """Run config.steps steps; return losses, test accuracy, test logits and the checkpoint path."""
    graph = TrainGraph(config, train_split)
    start = time.time()
    with graph.session() as sess:
        losses = []
        for _ in range(config.steps):
            _, loss = sess.run([graph.train_op, graph.cross_entropy])
            losses.append(float(loss))
        test_logits = predict_logits(sess, graph.eval_logits, graph.eval_images, test_split.images)
        path = None
        if checkpoint_dir:
            path = graph.saver.save(sess, os.path.join(checkpoint_dir, CHECKPOINT_NAME),
                                    global_step=graph.global_step)
        step = int(sess.run(graph.global_step))
    return {"losses": losses, "steps": step, "seconds": time.time() - start, "test_logits": test_logits,
            "test_accuracy": accuracy(test_logits, test_split.labels), "checkpoint": path}


class Predictor(object):
    """Inference from a checkpoint in a fresh graph: the raw weights, or their EMA shadows."""

    def __init__(self, checkpoint, use_ema=False, ema_decay=0.99):
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.images = tf1.placeholder(tf.float32, [None, data.IMAGE_SIZE, data.IMAGE_SIZE, 1], name="images")
            self.logits_op = model.logits(self.images, training=False)
            if use_ema:
                # Shadow names for the trainable weights, own names for BN moving statistics.
                var_list = tf1.train.ExponentialMovingAverage(ema_decay).variables_to_restore()
            else:
                var_list = tf1.global_variables()
            saver = tf1.train.Saver(var_list)
        self.graph.finalize()
        self.sess = tf1.Session(graph=self.graph, config=session_config())
        saver.restore(self.sess, checkpoint)

    def variables(self):
        """{name: value} of every variable of the restored network."""
        with self.graph.as_default():
            variables = tf1.global_variables()
        return dict(zip([v.op.name for v in variables], self.sess.run(variables)))

    def logits(self, images):
        return predict_logits(self.sess, self.logits_op, self.images, images)

    def accuracy(self, split):
        return accuracy(self.logits(split.images), split.labels)

    def close(self):
        self.sess.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = Config()
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.learning_rate)
    parser.add_argument("--ema-decay", type=float, default=defaults.ema_decay)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--checkpoint-dir", default=None)
    args = parser.parse_args(argv)
    quiet()
    config = Config(steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr,
                    ema_decay=args.ema_decay, seed=args.seed)
    train_split, test_split = data.load(seed=args.seed)
    result = train(config, train_split, test_split, args.checkpoint_dir)
    summary = {k: result[k] for k in ("steps", "test_accuracy", "checkpoint")}
    summary["seconds"] = round(result["seconds"], 2)
    summary["first_loss"], summary["last_loss"] = result["losses"][0], result["losses"][-1]
    if result["checkpoint"]:
        with Predictor(result["checkpoint"], use_ema=True, ema_decay=config.ema_decay) as ema:
            summary["ema_test_accuracy"] = ema.accuracy(test_split)
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
