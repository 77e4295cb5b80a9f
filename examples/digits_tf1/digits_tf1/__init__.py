"""digits_tf1: a small TF1 graph-mode CNN on scikit-learn's bundled 8x8 digits.

Written against TensorFlow 1.13+ (the `tf.compat.v1` spelling of the graph API), with a
standalone-Keras MLP next to it that is saved to and loaded from HDF5.
"""

__version__ = "0.3.0"
