"""Tower training (seed-spec §6) in training mode, against independently computed references.

Each case runs ONE real step of resnet_core.training.build_training over N virtual CPU towers
(momentum SGD, weight decay, clip_by_global_norm active, training-mode batch norm) on a tiny
option-A ResNet (TINY below).  In the same graph, on the same variables but under a name scope of
its own ('alone'), the same network is built once more for ONE slice's batch size and run once
per slice, fed that numpy slice through placeholders of its own: neither tf.split nor any tensor
of build_towers is involved.  From those per-slice gradients and BN inputs numpy recomputes what
the step must have done:

* the alone network's BN outputs are numpy's training-mode batch norm of their inputs with the
  slice's own statistics (so the reference really is in training mode);
* tower i's gradient == dCE(slice i alone)/dw + wd*w (kernels only): training-mode BN
  normalises each tower with its own slice's statistics, so this is not the whole-batch gradient;
* the update == -lr * clip(mean_i g_i): MomentumOptimizer's first step (accumulator = g), the
  clip by the global norm of the *averaged* gradient, decay counted once;
* each BN layer's moving statistics move by tower 0's slice only (the stack's convention).

BN as the stack builds it: the graph model uses bn='layers' (tf.layers.BatchNormalization, fused
kernel), the Keras tower builders keras.layers / tf.keras.layers.BatchNormalization, all with
batchnorm.batch_norm's momentum 0.9 and epsilon 1e-3.  Keras BN never fills UPDATE_OPS itself:
keras_layers.TowerKerasBackend adds each call's `layer.get_updates_for(x)` there, under the
tower's name scope, where build_towers picks tower 0's.  Standalone Keras' updates are
zero-debiased (see expected_moving).

Cases: the graph model (graph_model.build_logits, as `train --api graph`) on 2 and 4 towers, the
Keras tower builders (keras_layers.tower_model_builder, as `train --api keras|tf.keras`) on 2.
In the 4-tower case the last slice is blank images: every activation is 0 there and ReLU passes
no gradient at 0, so only the head bias (and the decay) gets a gradient from it and that tower's
gradient norm is half the others' -- where clipping per tower before averaging differs most.
"""
import numpy as np
import pytest

from compat import session_config, tf1
from resnet_core import arch as arch_lib
from resnet_core.graph_model import GraphBackend, build_logits
from resnet_core.train import unavailable_api
from resnet_core.training import build_training

PER_TOWER = 3  # images per tower
LR = 1.0  # large on purpose: the update (~0.1 in norm) then dwarfs float32 rounding of the weights
WD = 1e-2  # large enough that a missing or doubled decay term moves the update far beyond tolerance
CLIP = 0.1  # the averaged gradient's norm is ~1 at initialisation: clipping is active (asserted)
# Batch norm as the stack builds it (independent restatement, checked against the variables below):
# batchnorm.batch_norm's defaults momentum=0.9, epsilon=1e-3, which keras_layers also passes to the
# Keras flavours.  TF convention: moving = momentum * moving + (1 - momentum) * batch statistic.
BN_MOMENTUM = 0.9
BN_EPS = 1e-3
SHAPE = (8, 8, 1)

_B = arch_lib.BlockSpec
# Stem conv-BN-ReLU (4 filters) and one basic v1 block with the option-A (subsample + zero-pad) shortcut
# to 8 filters, global pool, dense: the CIFAR ResNets' primitives, 3 BN layers, 1,030 trainable weights.
TINY = arch_lib.Arch("tiny_cifar_v1", "cifar", 4, 1, 4, 3, 1, False, (_B("basic", 8, 2, "pad", "stage1/block0"),), 10)
BN_LAYERS = (("stem/bn", 4), ("stage1/block0/bn1", 8), ("stage1/block0/bn2", 8))

CASES = {"graph-2": ("graph", 2), "graph-4": ("graph", 4), "keras-2": ("keras", 2), "tf.keras-2": ("tf.keras", 2)}
BLANK_LAST_SLICE = {"graph-4"}


class RecordingBackend(object):
    """Delegates every primitive to `inner`, remembering each batch norm's (name, input, output)."""

    def __init__(self, inner):
        self.inner = inner
        self.bn = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def batch_norm(self, x, name):
        y = self.inner.batch_norm(x, name)
        self.bn.append((name, x, y))
        return y


def backend(api):
    """The model's backend in training mode: what build_logits / tower_model_builder wrap."""
    if api == "graph":
        return GraphBackend(True, "layers", "NHWC", None)
    from resnet_core.keras_layers import TowerKerasBackend

    return TowerKerasBackend(api, "channels_last", True)


def model_fn(api):
    """The model function exactly as resnet_core.train gets it for --api graph|keras|tf.keras."""
    if api == "graph":
        return lambda images, training: build_logits(images, TINY, training, bn="layers")
    from resnet_core.keras_layers import tower_model_builder

    return tower_model_builder(api)(TINY, "layers", "NHWC")


def bn_prefix(api, arch_name):
    """Variable prefix of an arch layer: graph keeps the path, Keras layer names use '_'."""
    return "resnet/" + (arch_name if api == "graph" else arch_name.replace("/", "_"))


def expected_model_variables(api):
    """Closed form of ONE TINY model's variables (name, shape): all that N towers may create."""
    def layer(path):
        return bn_prefix(api, path)

    out = [(layer("stem/conv") + "/kernel", (3, 3, 1, 4)), (layer("stage1/block0/conv1") + "/kernel", (3, 3, 4, 8)),
           (layer("stage1/block0/conv2") + "/kernel", (3, 3, 8, 8)), (layer("head/dense") + "/kernel", (8, 10)),
           (layer("head/dense") + "/bias", (10,))]
    for path, channels in BN_LAYERS:
        out += [(layer(path) + "/" + v, (channels,)) for v in ("gamma", "beta", "moving_mean", "moving_variance")]
        if api == "keras":  # zero-debias state per moving statistic, see debias_names
            for v in ("moving_mean", "moving_variance"):
                out += [("resnet/%s/%s/biased" % (layer(path), v), (channels,)),
                        ("resnet/%s/%s/local_step" % (layer(path), v), ())]
    return sorted(out)


def model_variable_names(graph):
    """Global variables minus the optimizer's (global_step, momentum slots): the model's own."""
    return sorted((v.op.name, tuple(v.shape.as_list())) for v in graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES)
                  if v.op.name != "global_step" and not v.op.name.endswith("/Momentum"))


def case_data(digits, case):
    n = CASES[case][1]
    x = digits[0][:n * PER_TOWER].copy()
    y = digits[1][:n * PER_TOWER].copy()
    if case in BLANK_LAST_SLICE:
        x[-PER_TOWER:] = 0.0
    return x, y


def run_case(digits, case):
    api, n = CASES[case]
    x, y = case_data(digits, case)
    graph = tf1.Graph()
    with graph.as_default():
        tf1.set_random_seed(1)
        images = tf1.placeholder(tf1.float32, (n * PER_TOWER,) + SHAPE, name="images")
        labels = tf1.placeholder(tf1.int32, (n * PER_TOWER,), name="labels")
        tg = build_training(images, labels, model_fn(api), ["/cpu:%d" % i for i in range(n)], learning_rate=LR,
                            weight_decay=WD, clip_norm=CLIP, ema_decay=None, loss_ema_decay=None, metrics=False)
        trainable = sorted(tf1.trainable_variables(), key=lambda v: v.op.name)
        names = [v.op.name for v in trainable]
        # The reference: the same network once more, on the same variables, with a placeholder of one
        # slice's size, run once per slice.  Built after the towers (a Keras layer is created by the first,
        # non-reusing tower; later calls under reuse=True share it).  Its BN update ops never run.
        xi = tf1.placeholder(tf1.float32, (PER_TOWER,) + SHAPE, name="alone_images")
        yi = tf1.placeholder(tf1.int32, (PER_TOWER,), name="alone_labels")
        with tf1.device("/cpu:0"), tf1.name_scope("alone"):
            recorder = RecordingBackend(backend(api))
            with tf1.variable_scope("resnet", reuse=True):
                logits = arch_lib.build(TINY, xi, recorder)
            ce = tf1.reduce_mean(tf1.nn.sparse_softmax_cross_entropy_with_logits(labels=yi, logits=logits))
            alone = {"logits": logits, "ce_grads": tf1.gradients(ce, trainable),
                     "bn_inputs": [x for _, x, _ in recorder.bn], "bn_outputs": [y for _, _, y in recorder.bn]}
        bn_names = [name for name, _, _ in recorder.bn]
        tower_grads = [[dict((v.op.name, g) for g, v in pairs)[name] for name in names] for pairs in tg.tower_grads]
        variables = graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES)
        var_names = [v.op.name for v in variables]
        feed = {images: x, labels: y}
        metadata = tf1.RunMetadata()
        with tf1.Session(graph=graph, config=session_config(threads=1, cpu_devices=n)) as sess:
            sess.run(tf1.global_variables_initializer())
            before = dict(zip(var_names, sess.run(variables)))
            ref = [sess.run(alone, {xi: x[i * PER_TOWER:(i + 1) * PER_TOWER], yi: y[i * PER_TOWER:(i + 1) * PER_TOWER]})
                   for i in range(n)]
            towers, tower_losses = sess.run([tower_grads, tg.tower_losses], feed)
            _, global_norm = sess.run([tg.train_op, tg.global_norm], feed,
                                      options=tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE),
                                      run_metadata=metadata)
            after = dict(zip(var_names, sess.run(variables)))
    return dict(api=api, n=n, labels=y, names=names, bn_names=bn_names, before=before, after=after, ref=ref,
                towers=towers, tower_losses=tower_losses, global_norm=global_norm, metadata=metadata,
                variables=model_variable_names(graph))


@pytest.fixture(scope="module", params=sorted(CASES))
def step(request, digits):
    reason = unavailable_api(CASES[request.param][0])
    if reason:
        pytest.skip("--api %s unavailable: %s" % (CASES[request.param][0], reason))
    return run_case(digits, request.param)


# ----------------------------------------------------------------------------- numpy references
def f64(a):
    return np.asarray(a, dtype=np.float64)


def decay_grad(run, name):
    """d(wd * sum(w**2)/2)/dw = wd*w on conv/dense kernels, nothing on BN parameters or biases."""
    return WD * f64(run["before"][name]) if name.endswith("/kernel") else 0.0


def slice_grads(run, decay_copies=1):
    """Per-slice gradients [{name: g}] of the alone network, decay added `decay_copies` times."""
    return [{name: f64(g) + decay_copies * decay_grad(run, name) for name, g in zip(run["names"], ref["ce_grads"])}
            for ref in run["ref"]]


def global_norm(grads):
    return float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))


def clip(grads):
    scale = CLIP / max(global_norm(grads), CLIP)
    return {k: g * scale for k, g in grads.items()}


def mean(grad_dicts):
    return {k: np.mean([g[k] for g in grad_dicts], axis=0) for k in grad_dicts[0]}


def delta(grads):
    """MomentumOptimizer's first step: accumulator = 0 * momentum + g, w -= lr * accumulator."""
    return {k: -LR * g for k, g in grads.items()}


def applied(run):
    return {k: f64(run["after"][k]) - f64(run["before"][k]) for k in run["names"]}


def distance(a, b):
    return float(np.sqrt(sum(np.sum((a[k] - b[k]) ** 2) for k in a)))


def batch_stats(api, x):
    """What the BN layer feeds its moving averages from a training batch x [N, H, W, C].

    tf.layers and tf.keras run the fused kernel on 4-D input and store its Bessel-corrected
    variance (n-1); standalone Keras 2.2.x multiplies that again by n/(n-1-eps) (see
    resnet_core.batchnorm and test_batchnorm, measured on every cell).
    """
    x = f64(x)
    n = x.size // x.shape[-1]
    m, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2)) * n / (n - 1.0)
    if api == "keras":
        var = var * n / (n - (1.0 + BN_EPS))
    return m, var


def expected_moving(run, slice_index):
    """{variable name: value after one update from slice `slice_index`'s batch statistics}.

    tf.layers / tf.keras: moving = m * old + (1 - m) * stat.  Standalone Keras is zero-debiased
    (assign_moving_average(zero_debias=True)): biased = m * biased + (1 - m) * stat,
    local_step += 1, moving = biased / (1 - m ** local_step).
    """
    api, before, m = run["api"], run["before"], BN_MOMENTUM
    out = {}
    for layer, x in zip(run["bn_names"], run["ref"][slice_index]["bn_inputs"]):
        prefix = bn_prefix(api, layer)
        for which, stat in zip(("moving_mean", "moving_variance"), batch_stats(api, x)):
            name = "%s/%s" % (prefix, which)
            if api == "keras":
                biased, local_step = debias_names(run, name)
                step = f64(before[local_step]) + 1
                out[name] = (m * f64(before[biased]) + (1 - m) * stat) / (1 - m ** step)
            else:
                out[name] = m * f64(before[name]) + (1 - m) * stat
    return out


def debias_names(run, moving_name):
    """Standalone Keras' zero-debias variables of one moving statistic: (biased, local_step).

    They are made by TF's _zero_debias in variable_scope(<variable's name>) opened inside the
    model's 'resnet' scope, hence 'resnet/resnet/<layer>/moving_mean/biased'; found by suffix.
    """
    found = []
    for suffix in ("biased", "local_step"):
        hits = [k for k in run["before"] if k.endswith(moving_name[len("resnet"):] + "/" + suffix)]
        assert len(hits) == 1, (moving_name, suffix, hits)
        found.append(hits[0])
    return found


# ----------------------------------------------------------------------------- gradients
def test_each_tower_gradient_is_its_slice_computed_alone(step):
    """Training-mode BN: tower i == the network on slice i alone (its own batch statistics)."""
    want = slice_grads(step)
    assert len(step["towers"]) == step["n"] == len(want)
    for i, (tower, ref) in enumerate(zip(step["towers"], want)):
        for name, got in zip(step["names"], tower):
            # The same float32 ops on the same inputs in another part of the graph/device: measured
            # max abs difference ~1.5e-8 on every cell (gradients are ~1e-4..1), rtol 1e-5 for the rest.
            np.testing.assert_allclose(got, ref[name], rtol=1e-5, atol=1e-7, err_msg="tower %d %s" % (i, name))
    # Discriminating: slice gradients differ from each other and from the whole-batch mean, so a
    # tower fed the wrong slice, or normalised with another slice's statistics, cannot pass.
    avg = mean(want)
    for i in range(1, step["n"]):
        assert distance(want[i], want[0]) > 1e-2 * global_norm(want[0]), i
    assert distance(want[0], avg) > 1e-2 * global_norm(avg)


def test_update_is_lr_times_clipped_mean_with_decay_once(step):
    """Applied change == -lr * clip_by_global_norm(mean_i(dCE_i/dw + wd*w)), global norm of the mean."""
    n, names = step["n"], step["names"]
    want = delta(clip(mean(slice_grads(step))))
    got = applied(step)
    # The change is read back as the difference of two float32 weights of magnitude <= ~2 (BN gamma
    # ~1, kernels < 1): each rounds to within ~1.2e-7, so atol=4e-7 elementwise (measured max error
    # ~6e-8); the changes are up to ~3e-2 per weight (global norm LR*CLIP = 0.1), and every
    # alternative below is more than 100x this tolerance away.
    for name in names:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=4e-7, err_msg=name)
    tolerance = 1e-4 * global_norm(want) + 4e-7 * np.sqrt(sum(g.size for g in want.values()))
    assert distance(got, want) < tolerance
    # The norm clipped by is the averaged gradient's (not the summed one's: under active clipping
    # sum and mean give the same update, the reported norm tells them apart), and clipping is active.
    norm = global_norm(mean(slice_grads(step)))
    np.testing.assert_allclose(step["global_norm"], norm, rtol=1e-5)
    assert norm > 2 * CLIP
    np.testing.assert_allclose(global_norm(got), LR * CLIP, rtol=1e-4)
    # Decay counted 0, 2 or n times (per tower and summed) gives a different update, far outside tolerance.
    for copies in sorted({0, 2, n}):
        wrong = delta(clip(mean(slice_grads(step, decay_copies=copies))))
        assert distance(wrong, want) > 100 * tolerance, copies
        assert distance(got, wrong) > 50 * tolerance, copies


def test_clipping_happens_after_averaging(step):
    """clip(mean(g_i)) is applied, not mean(clip(g_i)); the two differ by a wide margin here."""
    grads = slice_grads(step)
    after_mean = delta(clip(mean(grads)))
    per_tower = delta(mean([clip(g) for g in grads]))
    got = applied(step)
    tolerance = 1e-4 * global_norm(after_mean) + 4e-7 * np.sqrt(sum(g.size for g in got.values()))
    assert distance(after_mean, per_tower) > 0.05 * global_norm(after_mean) > 100 * tolerance
    assert distance(got, after_mean) < tolerance
    assert distance(got, per_tower) > 50 * tolerance
    norms = [global_norm(g) for g in grads]
    assert min(norms) > CLIP  # every tower would have been clipped on its own too
    if step["n"] == 4:  # the blank-slice case: tower gradient norms far apart
        assert max(norms) > 1.5 * min(norms), norms  # measured 1.39 vs 0.68


def test_mean_tower_loss_counts_weight_decay_once(step):
    """Each tower's loss == CE of its slice alone (numpy, from the alone logits) + wd * sum(w**2)/2."""
    l2 = WD * sum(np.sum(f64(step["before"][k]) ** 2) / 2.0 for k in step["names"] if k.endswith("/kernel"))
    for i, (ref, loss) in enumerate(zip(step["ref"], step["tower_losses"])):
        y = step["labels"][i * PER_TOWER:(i + 1) * PER_TOWER]
        z = f64(ref["logits"])
        z = z - z.max(axis=1, keepdims=True)
        ce = np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y])
        np.testing.assert_allclose(loss, ce + l2, rtol=1e-5, err_msg="tower %d" % i)
    assert l2 > 1e-2  # large enough for a missing or doubled copy to show at rtol=1e-5


# ----------------------------------------------------------------------------- batch norm
def test_reference_normalises_each_slice_with_its_own_statistics(step):
    """The alone network (and so, by the gradient check, every tower) is in training mode: each BN
    output is numpy's batch norm of its input with that slice's biased batch statistics."""
    for i, ref in enumerate(step["ref"]):
        for layer, x, y in zip(step["bn_names"], ref["bn_inputs"], ref["bn_outputs"]):
            prefix = bn_prefix(step["api"], layer)
            gamma, beta = f64(step["before"][prefix + "/gamma"]), f64(step["before"][prefix + "/beta"])
            x = f64(x)
            normalised = (x - x.mean(axis=(0, 1, 2))) / np.sqrt(x.var(axis=(0, 1, 2)) + BN_EPS)
            # float32 normalisation (rsqrt of var + eps, fused kernel) vs float64: 2e-4 as in test_batchnorm.
            np.testing.assert_allclose(y, gamma * normalised + beta, atol=2e-4, err_msg="slice %d %s" % (i, layer))


def test_bn_moving_statistics_move_by_tower_0_slice_only(step):
    """Only tower 0's update ops run (build_towers' convention, as cifar10_estimator and
    tf_cnn_benchmarks): one update per statistic from tower 0's slice, none from the others."""
    want = expected_moving(step, 0)
    assert [layer for layer, _ in BN_LAYERS] == step["bn_names"] and len(want) == 2 * len(BN_LAYERS)
    for name, value in want.items():
        # float32 batch statistics over 3*8*8 (or 3*4*4) values vs float64 numpy: 1e-4 relative, as in
        # test_batchnorm; atol covers means that are near 0 (BN outputs feeding the next conv).
        np.testing.assert_allclose(step["after"][name], value, rtol=1e-4, atol=1e-5, err_msg=name)
    # Discriminating: any other tower's slice would have given other statistics.
    for i in range(1, step["n"]):
        other = expected_moving(step, i)
        assert distance(other, want) > 1e-2, i
    if step["api"] == "keras":  # one zero-debiased update per variable, not one per tower
        for name in want:
            _, local_step = debias_names(step, name)
            assert step["after"][local_step] == step["before"][local_step] + 1, local_step


# ----------------------------------------------------------------------------- layout
def test_towers_share_exactly_one_models_variables(step):
    """The towers create no variables of their own, the moving statistics are not trainable."""
    assert step["variables"] == expected_model_variables(step["api"])
    trainable = [name for name, _ in expected_model_variables(step["api"])
                 if name.endswith(("/kernel", "/bias", "/gamma", "/beta"))]
    assert step["names"] == trainable


def test_each_tower_runs_on_its_own_device(step):
    """step_stats of the traced train step; '/host:CPU' is 1.14+'s duplicate host view, '.../_N' are
    the _Send/_Recv nodes that carry a tensor (e.g. the shared decay term) to the other device, and
    ReadVariableOp (tf.keras' resource variables) runs where the shared variable lives, on CPU:0."""
    seen = dict((i, set()) for i in range(step["n"]))
    for dev in step["metadata"].step_stats.dev_stats:
        if "/host:" in dev.device.lower():
            continue
        for node in dev.node_stats:
            for i in seen:
                leaf = node.node_name.split("/")[-1]
                if node.node_name.startswith("tower_%d/" % i) and not leaf.startswith(("_", "ReadVariableOp")):
                    seen[i].add(dev.device.upper().split("/")[-1].replace("DEVICE:", ""))
    for i in seen:
        assert seen[i] == {"CPU:%d" % i}, seen
