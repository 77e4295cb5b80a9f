"""Gradient plumbing the training stack relies on (seed-spec §8, §9), checked against numpy."""
import numpy as np
import pytest

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


def numpy_conv_filter_grad(x, w, stride):
    """d/dw of sum(conv2d(x, w, SAME)**2), written out with explicit patches."""
    k, size = w.shape[0], x.shape[1]
    out = -(-size // stride)
    pad = max((out - 1) * stride + k - size, 0)
    xp = np.pad(x, [(0, 0), (pad // 2, pad - pad // 2), (pad // 2, pad - pad // 2), (0, 0)], "constant")
    patch = lambda a, b: xp[:, a:a + stride * out:stride, b:b + stride * out:stride, :]  # noqa: E731
    y = sum(np.einsum("nijc,co->nijo", patch(a, b), w[a, b]) for a in range(k) for b in range(k))
    grad = np.zeros_like(w)
    for a in range(k):
        for b in range(k):
            grad[a, b] = np.einsum("nijc,nijo->co", patch(a, b), 2.0 * y)
    return grad


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
        with graph.as_default(), graph._kernel_label_map(CONV_BACKPROP_KERNELS[kernels]):
            y = tf1.nn.conv2d(tf1.constant(x0), tf1.constant(w0), [1, stride, stride, 1], "SAME")
            (grad,) = tf1.gradients(tf1.reduce_sum(y * y), [y.op.inputs[1]])
            with tf1.Session(graph=graph) as sess:
                try:
                    got = sess.run(grad)
                except tf1.errors.InvalidArgumentError:  # label not registered on this TF
                    correct = False
                    break
        want = numpy_conv_filter_grad(x0.astype(np.float64), w0.astype(np.float64), stride)
        correct = correct and np.allclose(got, want, rtol=1e-3, atol=1e-3 * np.max(np.abs(want)))
    if kernels == "default":
        assert correct, "TensorFlow's default conv filter gradient disagrees with numpy"
    else:
        assert (check_conv_backprop(kernels) is None) == correct
