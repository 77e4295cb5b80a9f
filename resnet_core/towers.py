"""Data-parallel towers in one graph (seed-spec §6): split the batch, one model copy per device,
shared variables, per-tower gradients averaged.

Conventions chosen here (reference stacks disagree, so they are pinned down and tested):

* Variables: `name_scope('tower_i')` outside `variable_scope('resnet', reuse=i > 0)`.  Variables
  are therefore named `resnet/...` exactly as in a single-device model, and every op of a tower
  lives under `tower_i/`, so a tower's UPDATE_OPS can be picked by scope.  (The notes'
  `get_variable_scope().reuse_variables()` style only works for explicitly named variables.)
* Weight decay: `wd * sum(l2_loss(kernel))` over conv/dense kernels (not BN gamma/beta, not
  biases) is added to *every* tower's loss.  Tower losses and gradients are *averaged*, so the
  averaged loss and the averaged gradient contain the decay term exactly once
  (mean_i(ce_i + wd*L2) = mean_i(ce_i) + wd*L2).  Adding it to one tower only would dilute it by N.
* Gradients: mean over towers per variable (not the sum tf_cnn_benchmarks uses), so the learning
  rate does not depend on the tower count.
* BN moving statistics: only tower 0's update ops run.  Every tower sees an i.i.d. slice of the
  same batch, so their statistics are near-identical; running all towers' updates would just
  apply N momentum steps per training step (cifar10_estimator and tf_cnn_benchmarks do the same).
"""
import collections

from compat import tf1

TowerOutputs = collections.namedtuple(
    "TowerOutputs", "tower_losses tower_grads logits labels update_ops weight_decay_loss")


def is_decayed(variable):
    """Conv and dense kernels only: the usual ResNet convention (BN params and biases excluded)."""
    return variable.op.name.endswith("/kernel")


def weight_decay_loss(variables, weight_decay):
    """wd * sum(l2_loss(w)), l2_loss(w) = sum(w**2)/2, so its gradient is wd * w."""
    kernels = [v for v in variables if is_decayed(v)]
    if not weight_decay or not kernels:
        return None
    return tf1.multiply(weight_decay, tf1.add_n([tf1.nn.l2_loss(v) for v in kernels]), name="weight_decay")


def softmax_loss(logits, labels):
    """Mean sparse softmax cross-entropy (the notes' tower_loss without decay)."""
    ce = tf1.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf1.reduce_mean(ce, name="cross_entropy")


def average_gradients(tower_grads):
    """Mean of each variable's gradient over towers; tower_grads = [[(g, v), ...] per tower].

    Variables without a gradient in tower 0 keep None (apply_gradients skips them).
    """
    averaged = []
    for pairs in zip(*tower_grads):
        var = pairs[0][1]
        grads = [g for g, _ in pairs if g is not None]
        if not grads:
            averaged.append((None, var))
            continue
        if len(grads) == 1:
            averaged.append((grads[0], var))
            continue
        with tf1.name_scope("average_" + var.op.name.replace("/", "_")):
            averaged.append((tf1.multiply(tf1.add_n(grads), 1.0 / len(grads)), var))
    return averaged


def build_towers(images, labels, model_fn, devices, optimizer, weight_decay=0.0, training=True):
    """Build one tower per device; returns TowerOutputs (nothing is applied here).

    model_fn(images, training) -> logits, called inside the shared 'resnet' variable scope.
    """
    n = len(devices)
    image_splits = tf1.split(images, n, axis=0) if n > 1 else [images]
    label_splits = tf1.split(labels, n, axis=0) if n > 1 else [labels]
    tower_losses, tower_grads, tower_logits, update_ops = [], [], [], []
    wd_loss = None
    for i, device in enumerate(devices):
        with tf1.device(device), tf1.name_scope("tower_%d" % i) as scope:
            with tf1.variable_scope("resnet", reuse=i > 0) as var_scope:
                logits = model_fn(image_splits[i], training)
            if i == 0:
                model_vars = tf1.get_collection(tf1.GraphKeys.TRAINABLE_VARIABLES, var_scope.name + "/")
                # Decay is built once, after the variables exist, and shared by all towers.
                wd_loss = weight_decay_loss(model_vars, weight_decay)
                update_ops = tf1.get_collection(tf1.GraphKeys.UPDATE_OPS, scope)
            loss = softmax_loss(logits, label_splits[i])
            if wd_loss is not None:
                loss = tf1.add(loss, wd_loss, name="tower_loss")
            tower_losses.append(loss)
            tower_logits.append(logits)
            tower_grads.append(optimizer.compute_gradients(loss, var_list=model_vars))
    return TowerOutputs(tower_losses, tower_grads, tower_logits, label_splits, update_ops, wd_loss)
