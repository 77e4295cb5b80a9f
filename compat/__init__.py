"""The one place that knows TensorFlow/Keras versions.

Everything else imports the TF1 graph API from here (`from compat import tf1`)
and never looks at a version number itself.
"""
import tensorflow as tf

TF_VERSION = tuple(int(p) for p in tf.__version__.split(".")[:2])

# tf.compat.v1 appears in 1.13; on 1.12 the top-level namespace *is* the v1 API.
# On 1.14/1.15 only the compat.v1 spelling is free of "The name tf.X is deprecated".
tf1 = getattr(getattr(tf, "compat", None), "v1", None) or tf
