"""Graph-mode (TF1 variables + tf.nn ops) backend for resnet_core.arch.build.

Variables are made with tf1.get_variable inside tf1.variable_scope(<arch layer name>),
never by auto-named layers, so that one `tf1.variable_scope('resnet', reuse=i > 0)`
around build_logits makes towers share every variable, whatever the batch-norm flavour.

Variable names (the contract the trainer relies on):
  <scope>/.../conv*/kernel, <scope>/head/dense/kernel, <scope>/head/dense/bias,
  <scope>/.../bn*/{gamma,beta,moving_mean,moving_variance} (+ Keras extras, see batchnorm).
Weight decay is NOT added here: the trainer filters tf1.trainable_variables() on names
ending in '/kernel' (conv and dense kernels; no BN parameters, no bias).

Conventions: 'SAME' padding, no conv bias, He init (variance scaling, fan_in, scale 2,
truncated normal corrected to the full He variance), Glorot-uniform dense kernel and zero
bias (the Keras Dense defaults, so the Keras flavours start from the same distribution),
option-A shortcut = stride subsampling (a 1x1 average pool in NHWC) + symmetric zero channel padding, global average
pool = reduce_mean over H, W.
"""
import zlib

import numpy as np

from compat import conv2d, tf1
from resnet_core import arch as arch_lib
from resnet_core import batchnorm

DATA_FORMATS = ("NHWC", "NCHW")


def build_logits(images, arch, training, bn=batchnorm.DEFAULT, data_format="NHWC", weight_init_seed=None):
    """Logits [N, num_classes] of `arch` for NHWC float32 `images`.

    data_format='NCHW' transposes the input once and builds every conv/BN/pool in NCHW.
    On CPU, TF1 has no NCHW kernel for max-pool and fused batch norm (the graph builds;
    running it fails), so NCHW is for GPUs.  `training` is a python bool or a bool tensor.
    `weight_init_seed` makes initial weights reproducible per layer name (independent of
    graph construction order and of the number of towers).
    """
    if data_format not in DATA_FORMATS:
        raise ValueError("data_format must be one of %s, got %r" % (DATA_FORMATS, data_format))
    if bn not in batchnorm.IMPLEMENTATIONS:
        raise ValueError("bn must be one of %s, got %r" % (batchnorm.IMPLEMENTATIONS, bn))
    x = images
    if data_format == "NCHW":
        x = tf1.transpose(x, [0, 3, 1, 2], name="to_nchw")
    backend = GraphBackend(training, bn, data_format, weight_init_seed)
    return arch_lib.build(arch, x, backend)


def count_trainable_params(graph_or_vars=None):
    """Number of trainable scalars: of a graph's TRAINABLE_VARIABLES or of a variable list."""
    if graph_or_vars is None:
        graph_or_vars = tf1.get_default_graph()
    if isinstance(graph_or_vars, tf1.Graph):
        graph_or_vars = graph_or_vars.get_collection(tf1.GraphKeys.TRAINABLE_VARIABLES)
    return int(sum(np.prod(v.shape.as_list()) for v in graph_or_vars))


class GraphBackend(object):
    """The primitives arch.build calls, in raw TF1 graph ops."""

    def __init__(self, training, bn, data_format, weight_init_seed):
        self.training = training
        self.bn = bn
        self.data_format = data_format
        self.seed = weight_init_seed
        self.channel_axis = 1 if data_format == "NCHW" else 3

    def _layer_seed(self, name):
        if self.seed is None:
            return None
        return (int(self.seed) + zlib.crc32(name.encode("utf-8"))) % (2 ** 31 - 1)

    def _channels(self, x):
        return x.shape[self.channel_axis].value

    def conv(self, x, filters, kernel, stride, name):
        init = tf1.variance_scaling_initializer(scale=2.0, mode="fan_in", distribution="truncated_normal",
                                                seed=self._layer_seed(name))
        with tf1.variable_scope(name):
            w = tf1.get_variable("kernel", [kernel, kernel, self._channels(x), filters], initializer=init)
            return conv2d(x, w, stride, "SAME", self.data_format)

    def batch_norm(self, x, name):
        return batchnorm.batch_norm(x, self.training, impl=self.bn, name=name, data_format=self.data_format)

    def relu(self, x, name):
        return tf1.nn.relu(x, name=_op_name(name))

    def max_pool(self, x, size, stride, name):
        if self.data_format == "NCHW":
            ksize, strides = [1, 1, size, size], [1, 1, stride, stride]
        else:
            ksize, strides = [1, size, size, 1], [1, stride, stride, 1]
        return tf1.nn.max_pool(x, ksize, strides, "SAME", data_format=self.data_format, name=_op_name(name))

    def add(self, a, b, name):
        return tf1.add(a, b, name=_op_name(name))

    def pad_shortcut(self, x, out_filters, stride, name):
        """Option A: keep every stride-th pixel, zero-pad the channels ((out-in)//2 on each side)."""
        in_filters = self._channels(x)
        extra = out_filters - in_filters
        if extra < 0:
            raise ValueError("%s: option-A shortcut cannot shrink %d -> %d channels" % (name, in_filters, out_filters))
        before, after = extra // 2, extra - extra // 2
        with tf1.name_scope(_op_name(name)):
            if self.data_format == "NCHW":
                y = x[:, :, ::stride, ::stride]
                paddings = [[0, 0], [before, after], [0, 0], [0, 0]]
            else:
                # The same pixels as x[:, ::stride, ::stride, :] (a 1x1 VALID window averages one value: exact, and
                # ceil(size/stride) outputs either way), through the pooling kernel: MKL builds keep it in their
                # own layout where a strided slice (and its gradient) costs layout conversions, ~6% of the
                # step on intel-tensorflow 1.15; neutral on stock TF.  CPU pooling is NHWC-only, hence NCHW slices.
                y = tf1.nn.avg_pool(x, [1, 1, 1, 1], [1, stride, stride, 1], "VALID")
                paddings = [[0, 0], [0, 0], [0, 0], [before, after]]
            return tf1.pad(y, paddings)

    def global_avg_pool(self, x, name):
        axes = [2, 3] if self.data_format == "NCHW" else [1, 2]
        return tf1.reduce_mean(x, axes, name=_op_name(name))

    def dense(self, x, units, name):
        with tf1.variable_scope(name):
            w = tf1.get_variable("kernel", [x.shape[-1].value, units],
                                 initializer=tf1.glorot_uniform_initializer(seed=self._layer_seed(name)))
            b = tf1.get_variable("bias", [units], initializer=tf1.zeros_initializer())
            return tf1.nn.bias_add(tf1.matmul(x, w), b)


def _op_name(path):
    """One flat op name per arch layer ('stage1/block0/relu1' -> 'stage1_block0_relu1').

    A '/' in an op name would read as nested name scopes that do not exist; variables carry the
    hierarchy (variable scopes), ops only need to be recognisable.
    """
    return path.replace("/", "_")
