"""The full TF1 training step: towers, averaged+clipped gradients, BN updates, EMA, accuracy.

Ordering decisions (each is a known pitfall of the reference notes):

* BN updates: the apply op is created under `control_dependencies(tower-0 UPDATE_OPS)`, so moving
  statistics are updated every step (nothing updates them otherwise).
* Clipping: `clip_by_global_norm` on the *averaged* gradients (one norm for the whole model step).
* EMA recipe A (weights) and recipe B (smoothed loss) are applied under
  `control_dependencies([apply_op])`.  The notes' `tf.group(apply_op, ema_op)` alone does not order
  them: the shadows could read the weights before or after the update, and `num_updates`
  (global_step) before or after its increment.  Here the k-th step always averages the updated
  weights with decay = min(d, (1 + k) / (10 + k)).
* Accuracy: streaming `metrics.accuracy` over the concatenated tower predictions; its counters
  are LOCAL variables, so the session must run `local_variables_initializer()`.
"""
import collections

from compat import tf1
from resnet_core.towers import average_gradients, build_towers

COST_COLLECTION = "cost"
MOMENTUM = 0.9

TrainGraph = collections.namedtuple("TrainGraph", [
    "train_op", "apply_op", "mean_loss", "smoothed_loss", "tower_losses", "accuracy", "accuracy_update",
    "global_step", "learning_rate", "grads_and_vars", "clipped_grads", "global_norm", "update_ops",
    "weight_ema", "loss_ema", "logits", "labels", "weight_decay_loss", "tower_grads",
])


def build_training(images, labels, model_fn, devices, learning_rate=0.1, weight_decay=0.0, clip_norm=None,
                   ema_decay=None, loss_ema_decay=0.999, training=True, metrics=True):
    """Wire one training step over `devices` towers; returns a TrainGraph.

    images/labels: the full batch (e.g. iterator.get_next()); its size must divide by len(devices).
    ema_decay None/0 disables weight averaging; loss_ema_decay None/0 disables the smoothed loss.
    tower_grads keeps each tower's [(gradient, variable)] before averaging and clipping.
    """
    global_step = tf1.train.get_or_create_global_step()
    lr = tf1.constant(learning_rate, tf1.float32, name="learning_rate")
    optimizer = tf1.train.MomentumOptimizer(lr, MOMENTUM)
    towers = build_towers(images, labels, model_fn, devices, optimizer, weight_decay, training)

    with tf1.name_scope("mean_loss"):
        mean_loss = tf1.reduce_mean(tf1.stack(towers.tower_losses))
    tf1.add_to_collection(COST_COLLECTION, mean_loss)

    grads_and_vars = average_gradients(towers.tower_grads)
    clipped, global_norm = grads_and_vars, None
    if clip_norm:
        grads = [g for g, _ in grads_and_vars]
        clipped_grads, global_norm = tf1.clip_by_global_norm(grads, clip_norm)
        clipped = list(zip(clipped_grads, [v for _, v in grads_and_vars]))

    with tf1.control_dependencies(towers.update_ops):
        apply_op = optimizer.apply_gradients(clipped, global_step=global_step)

    group = [apply_op]
    weight_ema = loss_ema = None
    smoothed_loss = mean_loss
    with tf1.control_dependencies([apply_op]):
        if ema_decay:
            weight_ema = tf1.train.ExponentialMovingAverage(ema_decay, num_updates=global_step)
            group.append(weight_ema.apply([v for _, v in grads_and_vars]))
        if loss_ema_decay:
            loss_ema = tf1.train.ExponentialMovingAverage(loss_ema_decay, num_updates=global_step, name="avg")
            group.append(loss_ema.apply(tf1.get_collection(COST_COLLECTION)))
            smoothed_loss = loss_ema.average(mean_loss)
    train_op = tf1.group(*group, name="train_op")

    logits = tf1.concat(towers.logits, axis=0) if len(devices) > 1 else towers.logits[0]
    labels_all = tf1.concat(towers.labels, axis=0) if len(devices) > 1 else towers.labels[0]
    accuracy = accuracy_update = None
    if metrics:
        predictions = tf1.argmax(logits, axis=1, output_type=tf1.int32)
        accuracy, accuracy_update = tf1.metrics.accuracy(labels_all, predictions, name="train_accuracy")

    return TrainGraph(train_op, apply_op, mean_loss, smoothed_loss, towers.tower_losses, accuracy,
                      accuracy_update, global_step, lr, grads_and_vars, clipped, global_norm,
                      towers.update_ops, weight_ema, loss_ema, logits, labels_all, towers.weight_decay_loss,
                      towers.tower_grads)


def initialize(session):
    """Global *and* local variables: metrics counters are local and start uninitialised otherwise."""
    session.run([tf1.global_variables_initializer(), tf1.local_variables_initializer()])

