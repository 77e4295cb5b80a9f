"""Gradient plumbing the training stack relies on (seed-spec §8, §9), checked against numpy."""
import functools

import numpy as np
import pytest

import compat
from compat import tf1
from resnet_core.towers import weight_decay_loss

RNG = np.random.RandomState(7)
TENSORS = [RNG.randn(3, 4).astype(np.float32), RNG.randn(5).astype(np.float32), RNG.randn(2, 2, 2).astype(np.float32)]
NORM = float(np.sqrt(sum(np.sum(t.astype(np.float64) ** 2) for t in TENSORS)))


@pytest.mark.parametrize("clip_norm", [NORM / 3.0, NORM * 2.0], ids=["clipping", "not-clipping"])
def test_clip_by_global_norm_matches_formula(session, clip_norm):
    clipped, norm = tf1.clip_by_global_norm([tf1.constant(t) for t in TENSORS], clip_norm)
    clipped, norm = session.run([clipped, norm])
    np.testing.assert_allclose(norm, NORM, rtol=1e-6)
    scale = clip_norm / max(NORM, clip_norm)
    for got, t in zip(clipped, TENSORS):
        np.testing.assert_allclose(got, t * scale, rtol=1e-5)
    assert (scale < 1.0) == (clip_norm < NORM)


def test_gradients_sum_jacobian_columns(session):
    """tf.gradients(y, x) for vector y is the column sum of dy/dx, not the Jacobian."""
    a = RNG.randn(4, 3).astype(np.float32)
    x0 = RNG.randn(3).astype(np.float32)
    x = tf1.placeholder(tf1.float32, [3])
    y = tf1.tanh(tf1.matmul(tf1.constant(a), tf1.reshape(x, [3, 1])))[:, 0]
    (summed,) = tf1.gradients(y, [x])
    rows = [tf1.gradients(y[i], [x])[0] for i in range(4)]
    summed, rows = session.run([summed, rows], {x: x0})
    jacobian = (1.0 - np.tanh(a.dot(x0)) ** 2)[:, None] * a  # closed form d tanh(Ax) / dx
    np.testing.assert_allclose(np.stack(rows), jacobian, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(summed, jacobian.sum(axis=0), rtol=1e-5, atol=1e-6)
    assert summed.shape != jacobian.shape


def test_compute_gradients_equals_tf_gradients(session):
    w = tf1.get_variable("w", initializer=RNG.randn(3, 2).astype(np.float32))
    b = tf1.get_variable("b", initializer=RNG.randn(2).astype(np.float32))
    unused = tf1.get_variable("unused", initializer=np.ones(2, np.float32))
    x = tf1.constant(RNG.randn(5, 3).astype(np.float32))
    loss = tf1.reduce_sum(tf1.square(tf1.matmul(x, w) + b))
    pairs = tf1.train.MomentumOptimizer(0.1, 0.9).compute_gradients(loss, [w, b, unused])
    assert [v for _, v in pairs] == [w, b, unused]
    assert pairs[2][0] is None  # unconnected variable: (None, var), as apply_gradients expects
    session.run(tf1.global_variables_initializer())
    got = session.run([g for g, _ in pairs[:2]])
    want = session.run(tf1.gradients(loss, [w, b]))
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, rtol=1e-6)


def test_l2_weight_decay_value_and_gradient(session):
    """Kernels only; l2_loss = sum(w**2)/2, so d(wd * L2)/dw = wd * w."""
    wd = 3e-3
    values = {"conv/kernel": RNG.randn(3, 3, 2, 4), "dense/kernel": RNG.randn(4, 2), "dense/bias": RNG.randn(2),
              "bn/gamma": RNG.randn(4)}
    variables = {name: tf1.get_variable(name, initializer=v.astype(np.float32)) for name, v in values.items()}
    loss = weight_decay_loss(list(variables.values()), wd)
    grads = tf1.gradients(loss, list(variables.values()))
    session.run(tf1.global_variables_initializer())
    loss_value = session.run(loss)
    kernels = [n for n in values if n.endswith("/kernel")]
    np.testing.assert_allclose(loss_value, wd * sum(np.sum(values[n] ** 2) / 2 for n in kernels), rtol=1e-5)
    for (name, value), grad in zip(values.items(), grads):
        if name in kernels:
            np.testing.assert_allclose(session.run(grad), wd * value, rtol=1e-5)
        else:
            assert grad is None, "%s must not be decayed" % name


def numpy_conv_grads(x, w, stride, padding="SAME"):
    """(d/dx, d/dw) of sum(conv2d(x, w)**2), written out with explicit patches."""
    k, size = w.shape[0], x.shape[1]
    out = -(-size // stride) if padding == "SAME" else (size - k) // stride + 1
    pad = max((out - 1) * stride + k - size, 0) if padding == "SAME" else 0
    xp = np.pad(x, [(0, 0), (pad // 2, pad - pad // 2), (pad // 2, pad - pad // 2), (0, 0)], "constant")
    window = lambda a, b: (slice(None), slice(a, a + stride * out, stride), slice(b, b + stride * out, stride))  # noqa
    y = sum(np.einsum("nijc,co->nijo", xp[window(a, b)], w[a, b]) for a in range(k) for b in range(k))
    grad_w, grad_xp = np.zeros_like(w), np.zeros_like(xp)
    for a in range(k):
        for b in range(k):
            grad_w[a, b] = np.einsum("nijc,nijo->co", xp[window(a, b)], 2.0 * y)
            grad_xp[window(a, b)] += np.einsum("nijo,co->nijc", 2.0 * y, w[a, b])
    return grad_xp[:, pad // 2:pad // 2 + size, pad // 2:pad // 2 + size, :], grad_w


def numpy_bn_grads(x, gamma, mean, variance, dy, training, epsilon):
    """(d/dx, d/dgamma, d/dbeta) of sum(batch_norm(x) * dy) over NHWC channels, from the textbook derivation."""
    if training:
        mean, variance = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    inv = 1.0 / np.sqrt(variance + epsilon)
    xhat = (x - mean) * inv
    dgamma, dbeta = (dy * xhat).sum(axis=(0, 1, 2)), dy.sum(axis=(0, 1, 2))
    if not training:
        return dy * gamma * inv, dgamma, dbeta
    dx = gamma * inv * (dy - dy.mean(axis=(0, 1, 2)) - xhat * (dy * xhat).mean(axis=(0, 1, 2)))
    return dx, dgamma, dbeta


@pytest.mark.parametrize("kernels", ["default", "eigen"])
def test_bench_uses_a_conv_kernel_only_if_its_gradient_is_right(kernels):
    """The bench may swap the conv-gradient kernels (a real speed-up on 1.15); its safety check must
    accept a choice exactly when that kernel's filter gradient matches numpy on this cell."""
    from resnet_core.bench import CHECK_SHAPES, CONV_BACKPROP_KERNELS, check_conv_backprop

    correct = True
    for batch, size, cin, cout, stride in CHECK_SHAPES:
        x0 = RNG.randn(batch, size, size, cin).astype(np.float32)
        w0 = RNG.randn(3, 3, cin, cout).astype(np.float32)
        graph = tf1.Graph()
        with graph.as_default(), compat.kernel_label_map(graph, CONV_BACKPROP_KERNELS[kernels]):
            y = tf1.nn.conv2d(tf1.constant(x0), tf1.constant(w0), [1, stride, stride, 1], "SAME")
            (grad,) = tf1.gradients(tf1.reduce_sum(y * y), [y.op.inputs[1]])
            with tf1.Session(graph=graph) as sess:
                try:
                    got = sess.run(grad)
                except tf1.errors.InvalidArgumentError:  # label not registered on this TF
                    correct = False
                    break
        want = numpy_conv_grads(x0.astype(np.float64), w0.astype(np.float64), stride)[1]
        correct = correct and np.allclose(got, want, rtol=1e-3, atol=1e-3 * np.max(np.abs(want)))
    if kernels == "default":
        assert correct, "TensorFlow's default conv filter gradient disagrees with numpy"
    else:
        assert (check_conv_backprop(kernels) is None) == correct


def _agrees(got, want, rtol=1e-4):
    return all(np.allclose(g, w, rtol=rtol, atol=rtol * np.max(np.abs(w))) for g, w in zip(got, want))


@pytest.mark.parametrize("name", ["conv_input_forward", "conv_filter_forward", "bn_basic_ops"])
def test_gradient_formulation_is_the_true_gradient(name):
    """The bench computes 1.12-1.14's training step with these formulations (resnet_core.cpu_kernels): each must give
    the gradient numpy derives independently, and the check the bench relies on must accept it exactly when it does."""
    from resnet_core import cpu_kernels

    def formulation_gradients(problem, feeds):
        mapping = cpu_kernels.override_map([name])
        return cpu_kernels.gradients(problem, feeds, lambda graph: graph.gradient_override_map(mapping))

    rng = np.random.RandomState(3)
    agree = True
    if name.startswith("conv"):
        for batch, size, cin, cout, kernel, stride, padding in cpu_kernels.CONV_CHECKS:
            x0 = rng.randn(batch, size, size, cin).astype(np.float32)
            w0 = rng.randn(kernel, kernel, cin, cout).astype(np.float32)
            got = formulation_gradients(functools.partial(cpu_kernels.conv_problem, stride, padding), [x0, w0])
            want = numpy_conv_grads(x0.astype(np.float64), w0.astype(np.float64), stride, padding)
            agree = agree and _agrees(got, want, rtol=1e-3)
    else:
        for training in (True, False):
            x0 = (rng.randn(4, 6, 6, 8) * 3.0 + 1.5).astype(np.float32)
            gamma0, beta0 = rng.uniform(0.5, 1.5, 8).astype(np.float32), rng.randn(8).astype(np.float32)
            mean0, var0 = rng.randn(8).astype(np.float32), rng.uniform(0.5, 2.0, 8).astype(np.float32)
            dy0 = rng.randn(*x0.shape).astype(np.float32)
            got = formulation_gradients(functools.partial(cpu_kernels.bn_problem, training),
                                        [x0, gamma0, beta0, mean0, var0, dy0])
            want = numpy_bn_grads(*[v.astype(np.float64) for v in (x0, gamma0, mean0, var0, dy0)],
                                  training=training, epsilon=1e-3)
            agree = agree and _agrees(got, want)
    assert agree, "formulation %s gives a gradient numpy does not" % name
    assert cpu_kernels.check(name) is None
