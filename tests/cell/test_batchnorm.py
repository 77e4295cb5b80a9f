"""Every batch-norm implementation against a numpy batch norm, plus the UPDATE_OPS pitfall, per cell.

References are numpy formulas; the per-implementation facts below (which variance is stored,
which implementation zero-debiases, which ignores the eval switch) are the documented behaviour
of the underlying TF/Keras APIs (api-catalog [b], [b4]), stated here independently of the code.
"""
import numpy as np
import pytest

from compat import conv2d, fused_batch_norm, moments, session_config, tf1, tower_devices
from compat.keras import keras_module
from resnet_core.batchnorm import IMPLEMENTATIONS, batch_norm

SHAPE = (8, 4, 4, 3)
MOMENTUM = 0.9
EPS = 1e-3
# The fused kernel's batch variance is Bessel-corrected (n-1); tf.nn.moments' is biased (n).
STORES_BESSEL_VARIANCE = {"layers", "layers_fn", "tf.keras", "contrib", "fused"}
# Standalone Keras 2.2.x corrects again on top of the fused kernel: var * n/(n-1) * n/(n-1-eps).
STORES_DOUBLE_CORRECTED_VARIANCE = {"keras"}
ZERO_DEBIASED = {"keras"}  # standalone Keras: K.moving_average_update -> assign_moving_average(zero_debias=True)
UPDATES_EVEN_IN_EVAL = {"keras"}  # standalone Keras builds its updates outside the training switch
KERAS_EXTRA_VARIABLES = {"keras": 4}  # moving_{mean,variance}/{biased,local_step}

impls = pytest.mark.parametrize("impl", IMPLEMENTATIONS)


def batch(seed, shape=SHAPE):
    """Channels with different means/scales, so a per-channel mix-up cannot pass."""
    rng = np.random.RandomState(seed)
    c = shape[-1]
    return (rng.normal(size=shape) * np.linspace(0.5, 2.0, c) + np.linspace(-3.0, 5.0, c)).astype(np.float32)


def np_stats(x, impl):
    mean = x.mean(axis=(0, 1, 2))
    var = x.var(axis=(0, 1, 2))
    n = x.size // x.shape[-1]
    if impl in STORES_DOUBLE_CORRECTED_VARIANCE:
        return mean, var * n / (n - 1) * n / (n - (1 + EPS))
    return mean, (var * n / (n - 1) if impl in STORES_BESSEL_VARIANCE else var)


def np_normalize(x, mean, var):
    return (x - mean) / np.sqrt(var + EPS)


def expected_moving(impl, batches):
    """Closed form of the moving statistics after one update per batch, from mean 0 / variance 1."""
    mean, var = np.zeros(SHAPE[-1]), np.ones(SHAPE[-1])
    biased_m, biased_v = np.zeros(SHAPE[-1]), np.zeros(SHAPE[-1])
    for step, xb in enumerate(batches, 1):
        bm, bv = np_stats(xb, impl)
        if impl in ZERO_DEBIASED:
            biased_m = MOMENTUM * biased_m + (1 - MOMENTUM) * bm
            biased_v = MOMENTUM * biased_v + (1 - MOMENTUM) * bv
            mean, var = biased_m / (1 - MOMENTUM ** step), biased_v / (1 - MOMENTUM ** step)
        else:
            mean = MOMENTUM * mean + (1 - MOMENTUM) * bm
            var = MOMENTUM * var + (1 - MOMENTUM) * bv
    return mean, var


def bn(x, training, impl, reuse=None, data_format="NHWC"):
    with tf1.variable_scope("net", reuse=reuse):
        return batch_norm(x, training, impl=impl, name="block/bn", momentum=MOMENTUM, epsilon=EPS,
                          data_format=data_format)


def stat(graph, which):
    found = [v for v in graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES) if v.name == "net/block/bn/%s:0" % which]
    assert len(found) == 1, [v.name for v in graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES)]
    return found[0]


def update_ops():
    return tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)


def np_forward_backward(x, gamma, beta, upstream):
    """Training-mode batch norm and its gradients, from the formulas (float64).

    y = gamma * xhat + beta, xhat = (x - mean) / sqrt(var + eps), mean/var (biased) over N = batch*H*W:
      dbeta = sum(g), dgamma = sum(g * xhat),
      dx = gamma / (N * sqrt(var + eps)) * (N * g - sum(g) - xhat * sum(g * xhat)).
    """
    x, g = x.astype(np.float64), upstream.astype(np.float64)
    axes = (0, 1, 2)
    n = x.size // x.shape[-1]
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    xhat = (x - mean) / np.sqrt(var + EPS)
    y = gamma * xhat + beta
    dbeta, dgamma = g.sum(axis=axes), (g * xhat).sum(axis=axes)
    dx = gamma / (n * np.sqrt(var + EPS)) * (n * g - dbeta - xhat * dgamma)
    return y, dx, dgamma, dbeta


@impls
def test_training_forward_and_backward_match_numpy(impl, graph, session):
    """Random gamma/beta (gamma = 1, beta = 0 would hide a swapped or missing affine step) and a random
    upstream gradient: the output and dL/dx, dL/dgamma, dL/dbeta against the closed form."""
    rng = np.random.RandomState(11)
    gamma_value = rng.uniform(0.5, 2.0, SHAPE[-1]).astype(np.float32)
    beta_value = rng.uniform(-1.0, 1.0, SHAPE[-1]).astype(np.float32)
    upstream = rng.normal(size=SHAPE).astype(np.float32)
    x = tf1.placeholder(tf1.float32, SHAPE)
    y = bn(x, True, impl)
    gamma, beta = stat(graph, "gamma"), stat(graph, "beta")
    loss = tf1.reduce_sum(y * tf1.constant(upstream))
    grads = tf1.gradients(loss, [x, gamma, beta])
    session.run(tf1.global_variables_initializer())
    gamma.load(gamma_value, session)
    beta.load(beta_value, session)
    xb = batch(1)
    got_y, got_dx, got_dgamma, got_dbeta = session.run([y] + grads, {x: xb})
    want_y, want_dx, want_dgamma, want_dbeta = np_forward_backward(xb, gamma_value, beta_value, upstream)
    np.testing.assert_allclose(got_y, want_y, atol=5e-4, err_msg="output")
    # Sums over N = 128 float32 terms of magnitude ~1-10: relative 1e-4 plus a small absolute floor.
    np.testing.assert_allclose(got_dbeta, want_dbeta, rtol=1e-4, atol=1e-4, err_msg="dbeta")
    np.testing.assert_allclose(got_dgamma, want_dgamma, rtol=1e-4, atol=1e-4, err_msg="dgamma")
    np.testing.assert_allclose(got_dx, want_dx, rtol=1e-3, atol=2e-4, err_msg="dx")


@impls
def test_moving_stats_follow_the_recurrence(impl, graph, session):
    """Two updates from two batches vs numpy: TF's EMA, or Keras' zero-debiased EMA, with its variance kind."""
    x = tf1.placeholder(tf1.float32, SHAPE)
    bn(x, True, impl)
    step = tf1.group(*update_ops())
    session.run(tf1.global_variables_initializer())
    batches = [batch(2), batch(3)]
    for xb in batches:
        session.run(step, {x: xb})
    want_mean, want_var = expected_moving(impl, batches)
    np.testing.assert_allclose(session.run(stat(graph, "moving_mean")), want_mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(session.run(stat(graph, "moving_variance")), want_var, rtol=1e-4, atol=1e-5)


@impls
def test_inference_uses_moving_stats_and_switch_selects(impl, graph, session):
    """Inference (python False, shared variables) normalises with the moving stats; a bool tensor switches."""
    x = tf1.placeholder(tf1.float32, SHAPE)
    bn(x, True, impl)
    step = tf1.group(*update_ops())
    y_infer = bn(x, False, impl, reuse=True)
    training = tf1.placeholder_with_default(True, [])
    y_switch = bn(x, training, impl, reuse=True)
    session.run(tf1.global_variables_initializer())
    session.run(step, {x: batch(4)})
    mm, mv = session.run([stat(graph, "moving_mean"), stat(graph, "moving_variance")])
    xb = batch(5)
    want_infer = np_normalize(xb, mm, mv)
    np.testing.assert_allclose(session.run(y_infer, {x: xb}), want_infer, atol=2e-4)
    np.testing.assert_allclose(session.run(y_switch, {x: xb, training: False}), want_infer, atol=2e-4)
    want_train = np_normalize(xb, xb.mean(axis=(0, 1, 2)), xb.var(axis=(0, 1, 2)))
    np.testing.assert_allclose(session.run(y_switch, {x: xb}), want_train, atol=2e-4)


@impls
def test_eval_switch_and_update_ops(impl, graph, session):
    """Running UPDATE_OPS with the switch at False leaves the stats alone -- except standalone Keras."""
    x = tf1.placeholder(tf1.float32, SHAPE)
    training = tf1.placeholder_with_default(True, [])
    bn(x, training, impl)
    step = tf1.group(*update_ops())
    session.run(tf1.global_variables_initializer())
    session.run(step, {x: batch(6), training: False})
    moving_mean = session.run(stat(graph, "moving_mean"))
    moved = not np.allclose(moving_mean, 0.0)
    # Seen once (py3.6-tf1.14, full suite): the layers BN's stats changed here. The fused inference
    # kernel leaves its batch-mean output unset, and the update multiplies it by zero: harmless unless
    # the reused buffer holds inf/NaN. The values are in the message so a recurrence says which.
    assert moved == (impl in UPDATES_EVEN_IN_EVAL), "moving_mean after an eval-mode update: %s" % moving_mean


def test_fused_kernel_returns_bessel_corrected_variance(graph, session):
    x = tf1.placeholder(tf1.float32, SHAPE)
    _, f_mean, f_var = fused_batch_norm(x, tf1.ones([SHAPE[-1]]), tf1.zeros([SHAPE[-1]]), is_training=True)
    m_mean, m_var = moments(x, [0, 1, 2])
    xb = batch(7)
    got = session.run([f_mean, f_var, m_mean, m_var], {x: xb})
    n = xb.size // SHAPE[-1]
    np.testing.assert_allclose(got[0], xb.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(got[1], xb.var(axis=(0, 1, 2)) * n / (n - 1), rtol=1e-4)
    np.testing.assert_allclose(got[3], xb.var(axis=(0, 1, 2)), rtol=1e-4)
    np.testing.assert_allclose(got[1] / got[3], n / (n - 1.0), rtol=1e-4)


@pytest.mark.parametrize("flavour", ["tf.keras", "keras"])
def test_keras_bn_updates_need_explicit_wiring(flavour, graph):
    """Raw Keras BN leaves UPDATE_OPS empty (only layer.updates); our wrapper puts both updates there."""
    x = tf1.placeholder(tf1.float32, SHAPE)
    layer = keras_module(flavour).layers.BatchNormalization(momentum=MOMENTUM)
    layer(x, training=True)
    assert update_ops() == [] and len(layer.updates) == 2
    bn(x, True, flavour)
    assert len(update_ops()) == 2


@impls
def test_towers_share_bn_variables(impl, graph):
    """A reusing variable scope around a second tower shares every BN variable; each tower has its updates.

    Built the way towers are (tf.device + name_scope): standalone Keras 2.2.x BN under tf.device
    needs compat.keras' device-capture patch on TF 1.14+.
    """
    x = tf1.placeholder(tf1.float32, SHAPE)
    for i, device in enumerate(tower_devices(2)):
        with tf1.device(device), tf1.name_scope("tower_%d" % i):
            bn(x, True, impl, reuse=i > 0)
    names = sorted(v.name for v in graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES))
    core = ["net/block/bn/%s:0" % n for n in ("beta", "gamma", "moving_mean", "moving_variance")]
    assert set(core) <= set(names) and len(names) == 4 + KERAS_EXTRA_VARIABLES.get(impl, 0), names
    trainable = sorted(v.name for v in graph.get_collection(tf1.GraphKeys.TRAINABLE_VARIABLES))
    assert trainable == ["net/block/bn/beta:0", "net/block/bn/gamma:0"]
    assert len(update_ops()) == 4


@impls
def test_train_step_moves_bn_stats_only_through_update_ops(impl, graph, session):
    """The pitfall, proven on a conv + BN + dense net (issue-2 smoke, with train.py's bool-tensor switch).

    A train op without the UPDATE_OPS dependency trains the weights but never touches the moving
    statistics; Recipe A (control_dependencies on UPDATE_OPS) moves them.  None of these
    implementations updates in place (contrib could, with updates_collections=None; we don't).
    """
    x = tf1.placeholder(tf1.float32, SHAPE)
    labels = tf1.constant([0, 1] * (SHAPE[0] // 2))
    training = tf1.placeholder_with_default(True, [])
    kernel = tf1.get_variable("conv/kernel", [3, 3, SHAPE[-1], 4], initializer=tf1.glorot_uniform_initializer(seed=1))
    with tf1.variable_scope("net"):
        h = batch_norm(conv2d(x, kernel, 1), training, impl=impl, name="block/bn", momentum=MOMENTUM, epsilon=EPS)
    dense = tf1.get_variable("dense/kernel", [4, 2], initializer=tf1.glorot_uniform_initializer(seed=2))
    logits = tf1.matmul(tf1.reduce_mean(tf1.nn.relu(h), [1, 2]), dense)
    loss = tf1.losses.sparse_softmax_cross_entropy(labels, logits)
    assert len(update_ops()) == 2, update_ops()
    opt = tf1.train.GradientDescentOptimizer(0.1)
    grads = opt.compute_gradients(loss)
    plain = opt.apply_gradients(grads)
    with tf1.control_dependencies(update_ops()):
        recipe_a = opt.apply_gradients(grads)
    mm, mv = stat(graph, "moving_mean"), stat(graph, "moving_variance")
    session.run(tf1.global_variables_initializer())
    feed = {x: batch(8)}
    before = session.run(kernel)
    session.run(plain, feed)
    assert not np.allclose(session.run(kernel), before), "the plain train step did not train"
    np.testing.assert_array_equal(session.run(mm), 0.0)
    np.testing.assert_array_equal(session.run(mv), 1.0)
    session.run(recipe_a, feed)
    assert not np.allclose(session.run(mm), 0.0) and not np.allclose(session.run(mv), 1.0)
    feed[training] = False
    assert np.all(np.isfinite(session.run(logits, feed)))


@impls
def test_nchw_builds_everywhere_runs_where_a_kernel_exists(impl, graph):
    """NCHW graphs must build on every cell; CPU TF1 lacks NCHW kernels for fused BN, so running may be skipped."""
    x = tf1.placeholder(tf1.float32, SHAPE)
    y = tf1.transpose(bn(tf1.transpose(x, [0, 3, 1, 2]), True, impl, data_format="NCHW"), [0, 2, 3, 1])
    assert y.shape.as_list() == list(SHAPE)
    assert stat(graph, "gamma").shape.as_list() == [SHAPE[-1]]
    xb = batch(9)
    with tf1.Session(graph=graph, config=session_config(threads=1)) as sess:
        sess.run(tf1.global_variables_initializer())
        try:
            got = sess.run(y, {x: xb})
        except (tf1.errors.InvalidArgumentError, tf1.errors.UnimplementedError, tf1.errors.InternalError) as err:
            if "NHWC" not in err.message:
                raise
            pytest.skip("%s: no NCHW kernel on this device (CPU TF1 kernels are NHWC only): %s"
                        % (impl, err.message.splitlines()[0][:200]))
    np.testing.assert_allclose(got, np_normalize(xb, xb.mean(axis=(0, 1, 2)), xb.var(axis=(0, 1, 2))), atol=2e-4)
