"""The stack's training step written the naive way: plain TF 1.x names, no compat layer, on purpose.

naive_training() builds and runs two steps of a small conv net with BN, L2, clipping, momentum, weight
EMA, a summary and a checkpoint, the way TF1 tutorials of the 1.4-1.12 era wrote them. Its call sites
are what a user's unported code looks like: tests/cell/test_naive_tf1.py runs it in every cell's suite,
and the deprecation notices TensorFlow logs for these lines are the migration burden the report's census
shows per release (resnet_core itself goes through compat/ and triggers none: tests/cell/test_deprecations.py).
"""
import shutil
import tempfile

import numpy as np
import tensorflow as tf


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

