"""Session settings shared by the graph trainer and the Keras model."""
import logging

import tensorflow as tf

tf1 = tf.compat.v1


def session_config(threads=2):
    """A small, predictable thread budget: the CI runners have two cores."""
    return tf1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1)


def quiet():
    """Only errors from TensorFlow's Python logger (tf.get_logger: TF 1.13+)."""
    tf.get_logger().setLevel(logging.ERROR)
