"""How the training step's gradients are computed: faster formulations where a release's default CPU kernel is slow.

What is computed never changes (same model, loss, batch-norm semantics, optimizer); only which kernels compute it.
A formulation replaces the gradient *function* of one forward op type (through Graph.gradient_override_map, set
when the forward ops are created), so the forward graph, its variables and checkpoints are untouched.  Which
formulations a release gets is compat's choice (row "cpu_training_kernels", measured per release and build), and each
is used only after check() compared it with TensorFlow's own gradient on this very build.

Formulations (FORMULATIONS):
  bn_basic_ops        the gradient of FusedBatchNorm{,V2,V3} from two per-channel sums and elementwise ops, instead
                      of the FusedBatchNormGrad kernel (1.12-1.14 on CPU: ~10 ms per 64x32x32x16 layer, the largest
                      cost after the conv gradients).  With xc = x - batch mean, inv = 1/sqrt(biased var + eps),
                      M = values per channel:  dbeta = sum(dy), dgamma = inv * sum(dy * xc),
                      dx = gamma * inv * (dy - dbeta / M - xc * inv * dgamma / M)  (training mode), which is what the
                      kernel computes.  The biased batch variance is the op's Bessel-corrected output times (M-1)/M.
  conv_input_forward  the input gradient of a stride-1, SAME, odd-kernel, undilated Conv2D as a forward Conv2D of the
                      output gradient with the kernel flipped spatially and its in/out channels swapped (exact: SAME
                      pads (k-1)/2 on both sides), instead of Conv2DBackpropInput.  Other convs (stride 2) keep
                      Conv2DBackpropInput.
  conv_filter_forward the filter gradient of a stride-1, odd-kernel, undilated NHWC Conv2D as ONE forward Conv2D:
                      dW[a,b,i,o] = sum_{n,h,w} xpad[n,h+a,w+b,i] dy[n,h,w,o] is a VALID conv of xpad laid out
                      [i, H', W', n] (images as channels) with dy laid out [h, w, n, o] as the filter, instead of
                      Conv2DBackpropFilter (whose default CPU kernel materialises im2col and contracts over its
                      leading dimension: 3x the forward conv's time on 1.12-1.14).  Costs a pad and two rank-3
                      transposes.  Other convs (stride 2) keep Conv2DBackpropFilter, with whatever kernel label the
                      graph selects for it.
"""
import contextlib
import functools

import numpy as np

from compat import conv2d, tf1

FORMULATIONS = ("bn_basic_ops", "conv_input_forward", "conv_filter_forward")
_BN_TYPES = ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
_PREFIX = "resnet_core.cpu_kernels/"


def _text(value):
    return value.decode("ascii") if isinstance(value, bytes) else value


def _channel_shape(data_format):
    return [1, -1, 1, 1] if data_format == "NCHW" else [-1]


def _batch_statistics_out(op):
    """Whether outputs 1 and 2 are this batch's mean and variance: not when the op (TF 2.4+) folds the moving average
    in itself (attr exponential_avg_factor != 1), which no TF 1.x op has."""
    try:
        factor = op.get_attr("exponential_avg_factor")
    except ValueError:
        return True
    return factor == 1.0


def _bn_grad(op, grad_y, *unused_output_grads):
    """Gradient of a FusedBatchNorm op (any version) w.r.t. x, scale, offset (None for mean/variance inputs)."""
    x, scale = op.inputs[0], op.inputs[1]
    data_format = _text(op.get_attr("data_format"))
    epsilon = op.get_attr("epsilon")
    training = op.get_attr("is_training")
    axes = [0, 2, 3] if data_format == "NCHW" else [0, 1, 2]
    shape = _channel_shape(data_format)
    dims = x.shape.as_list()
    count = int(np.prod([dims[a] for a in axes])) if None not in [dims[a] for a in axes] else None
    xf = tf1.cast(x, tf1.float32)
    gf = tf1.cast(grad_y, tf1.float32)
    if training and _batch_statistics_out(op) and count is not None and count > 1:
        mean = op.outputs[1]
        variance = op.outputs[2] * ((count - 1.0) / count)  # the op outputs the Bessel-corrected variance
    elif training:
        mean = tf1.reduce_mean(xf, axes)
        variance = tf1.reduce_mean(tf1.square(xf - tf1.reshape(mean, shape)), axes)
    else:
        mean, variance = op.inputs[3], op.inputs[4]
    inv = tf1.rsqrt(variance + epsilon)
    centered = xf - tf1.reshape(mean, shape)
    sum_dy = tf1.reduce_sum(gf, axes)
    dscale = tf1.reduce_sum(gf * centered, axes) * inv
    k1 = scale * inv
    if training:
        m = tf1.cast(count, tf1.float32) if count is not None else tf1.cast(tf1.size(x) // tf1.size(mean), tf1.float32)
        dx = gf * tf1.reshape(k1, shape) + (centered * tf1.reshape(-k1 * inv * dscale / m, shape)
                                            + tf1.reshape(-k1 * sum_dy / m, shape))
    else:
        dx = gf * tf1.reshape(k1, shape)
    return [tf1.cast(dx, x.dtype), dscale, sum_dy, None, None]


def _stride1_odd(op, kernel, paddings=("SAME",)):
    size = kernel.shape.as_list()[:2]
    return (list(op.get_attr("strides")) == [1, 1, 1, 1] and list(op.get_attr("dilations")) == [1, 1, 1, 1]
            and _text(op.get_attr("padding")) in paddings and _text(op.get_attr("data_format")) == "NHWC"
            and None not in size and size[0] % 2 == 1 and size[1] % 2 == 1)


def _input_grad_forward(grad, kernel):
    """dx of a stride-1 SAME conv with an odd kernel: correlate dy with the flipped, in/out-swapped kernel."""
    flipped = tf1.transpose(tf1.reverse(kernel, [0, 1]), [0, 1, 3, 2])
    return conv2d(grad, flipped, 1, "SAME", "NHWC")


def _filter_grad_forward(x, grad, kernel, padding):
    """dW[a, b, i, o] = sum over n, h, w of xpad[n, h + a, w + b, i] * dy[n, h, w, o] for a stride-1 conv, as ONE
    forward VALID conv: input xpad laid out [i, H+2p, W+2p, n] (batch <- in channels, channels <- images), filter
    dy laid out [h, w, n, o]; the output [i, kh, kw, o] is dW's transpose.  Rank-3 transposes (reshape around
    them) are the cheap ones."""
    kh, kw = kernel.shape.as_list()[:2]
    n, height, width, cin = x.shape.as_list()
    _, out_h, out_w, cout = grad.shape.as_list()
    if padding == "SAME":
        x = tf1.pad(x, [[0, 0], [(kh - 1) // 2] * 2, [(kw - 1) // 2] * 2, [0, 0]])
        height, width = height + kh - 1, width + kw - 1
    xt = tf1.reshape(tf1.transpose(tf1.reshape(x, [n, height * width, cin]), [2, 1, 0]), [cin, height, width, n])
    gt = tf1.reshape(tf1.transpose(tf1.reshape(grad, [n, out_h * out_w, cout]), [1, 0, 2]), [out_h, out_w, n, cout])
    return tf1.transpose(conv2d(xt, gt, 1, "VALID", "NHWC"), [1, 2, 0, 3])


def _make_conv_grad(forward_input, forward_filter):
    def conv_grad(op, grad):
        """Gradient of Conv2D: forward-conv formulations where they are exact, else TF's own backprop ops."""
        x, kernel = op.inputs
        strides = list(op.get_attr("strides"))
        padding = _text(op.get_attr("padding"))
        data_format = _text(op.get_attr("data_format"))
        dilations = list(op.get_attr("dilations"))
        if padding not in ("SAME", "VALID"):
            raise ValueError("%s: the conv gradient formulations handle SAME/VALID padding only, got %s"
                             % (op.name, padding))
        if forward_input and _stride1_odd(op, kernel):
            dx = _input_grad_forward(grad, kernel)
        else:
            dx = tf1.nn.conv2d_backprop_input(tf1.shape(x), kernel, grad, strides, padding,
                                              data_format=data_format, dilations=dilations)
        static = None not in x.shape.as_list() + grad.shape.as_list()
        if forward_filter and static and _stride1_odd(op, kernel, ("SAME", "VALID")):
            dw = _filter_grad_forward(x, grad, kernel, padding)
        else:
            dw = tf1.nn.conv2d_backprop_filter(x, tf1.shape(kernel), grad, strides, padding,
                                               data_format=data_format, dilations=dilations)
        return [dx, dw]
    return conv_grad


tf1.RegisterGradient(_PREFIX + "bn_basic_ops")(_bn_grad)
_CONV = ("conv_input_forward", "conv_filter_forward")
for _dx, _dw in ((True, False), (False, True), (True, True)):
    tf1.RegisterGradient(_PREFIX + "+".join(n for n, on in zip(_CONV, (_dx, _dw)) if on))(_make_conv_grad(_dx, _dw))


def override_map(formulations):
    """{forward op type: registered gradient name} for Graph.gradient_override_map."""
    unknown = [name for name in formulations if name not in FORMULATIONS]
    if unknown:
        raise ValueError("unknown gradient formulation(s) %s (known: %s)" % (unknown, ", ".join(FORMULATIONS)))
    mapping = {}
    if "bn_basic_ops" in formulations:
        mapping.update((t, _PREFIX + "bn_basic_ops") for t in _BN_TYPES)
    conv = [name for name in _CONV if name in formulations]
    if conv:
        mapping["Conv2D"] = _PREFIX + "+".join(conv)
    return mapping


def _max_relative_error(got, want):
    return float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-30))


def gradients(build, feeds, variant=None):
    """tf1.gradients of build() in a fresh graph, built inside variant(graph) if given (a context manager: a
    gradient override map, a kernel label map), run on feeds; a list of numpy arrays."""
    from compat import session_config

    graph = tf1.Graph()
    with graph.as_default():
        placeholders = [tf1.placeholder(tf1.float32, value.shape) for value in feeds]
        # Around the gradients too: a kernel label map is read when the backward ops are created.
        with variant(graph) if variant is not None else _nothing():
            loss, wrt = build(*placeholders)
            grads = tf1.gradients(loss, wrt)
        with tf1.Session(graph=graph, config=session_config()) as sess:
            return sess.run(grads, dict(zip(placeholders, feeds)))


@contextlib.contextmanager
def _nothing():
    yield


def compare_gradients(problem, feeds, labels, variant, rtol, where):
    """The one gradient check: None if build() under variant(graph) computes TF's own gradients (max relative
    error <= rtol for each of `labels`), else the reason (also when the variant's kernels are not registered)."""
    want = gradients(problem, feeds)
    try:
        got = gradients(problem, feeds, variant)
    except tf1.errors.InvalidArgumentError as exc:
        return "not registered on this TensorFlow: " + str(exc).splitlines()[0][:200]
    for what, a, b in zip(labels, got, want):
        err = _max_relative_error(a, b)
        if not err <= rtol:
            return "%s gradient differs from TF's (%s: max relative error %.3g)" % (what, where, err)
    return None


# Small problems shaped like a ResNet's convs: (batch, size, in channels, out channels, kernel, stride, padding).
CONV_CHECKS = ((4, 8, 16, 16, 3, 1, "SAME"), (4, 8, 16, 32, 3, 2, "SAME"), (2, 6, 3, 8, 3, 1, "SAME"),
               (2, 7, 8, 4, 1, 1, "SAME"), (2, 9, 4, 8, 3, 1, "VALID"))
BN_CHECKS = ((4, 8, 8, 16), (2, 4, 4, 3))


def conv_problem(stride, padding, x, w):
    y = conv2d(x, w, stride, padding, "NHWC")
    return tf1.reduce_sum(y * y), [x, w]


def bn_problem(training, x, gamma, beta, mean, variance, weights):
    from compat import fused_batch_norm

    if training:
        y = fused_batch_norm(x, gamma, beta, epsilon=1e-3, is_training=True)[0]
    else:
        y = fused_batch_norm(x, gamma, beta, mean=mean, variance=variance, epsilon=1e-3, is_training=False)[0]
    return tf1.reduce_sum(y * weights), [x, gamma, beta]


def _compare(name, problem, feeds, labels, rtol, where):
    mapping = override_map([name])
    return compare_gradients(problem, feeds, labels, lambda graph: graph.gradient_override_map(mapping), rtol, where)


def check(name, rtol=1e-4):
    """None if formulation `name` computes TF's own gradients on this build (within rtol), else the reason."""
    if name not in FORMULATIONS:
        raise ValueError("unknown gradient formulation %r (known: %s)" % (name, ", ".join(FORMULATIONS)))
    rng = np.random.RandomState(0)
    if name in _CONV:
        for batch, size, cin, cout, kernel, stride, padding in CONV_CHECKS:
            feeds = [rng.randn(batch, size, size, cin).astype(np.float32),
                     rng.randn(kernel, kernel, cin, cout).astype(np.float32)]
            reason = _compare(name, functools.partial(conv_problem, stride, padding), feeds, ("input", "filter"),
                              rtol, "%dx%dx%d -> %d, %dx%d/%d %s" % (size, size, cin, cout, kernel, kernel, stride,
                                                                    padding))
            if reason:
                return reason
        return None
    for shape in BN_CHECKS:
        channels = shape[-1:]
        feeds = [(rng.randn(*shape) * 3.0 + 1.5).astype(np.float32), rng.uniform(0.5, 1.5, channels).astype(np.float32),
                 rng.randn(*channels).astype(np.float32), rng.randn(*channels).astype(np.float32),
                 rng.uniform(0.5, 2.0, channels).astype(np.float32), rng.randn(*shape).astype(np.float32)]
        for training in (True, False):
            reason = _compare(name, functools.partial(bn_problem, training), feeds, ("x", "gamma", "beta"), rtol,
                              "%s, %s" % ("training" if training else "inference", shape))
            if reason:
                return reason
    return None
