"""Exponential moving averages (seed-spec §5) against numpy recurrences.

shadow_k = d_k * shadow_{k-1} + (1 - d_k) * value_k with d_k = min(decay, (1 + k) / (10 + k)),
k = global_step after the k-th update (the EMA runs after apply_gradients by construction).
Weight shadows start at the initial weights, the loss shadow (a tensor's) at zero.
"""
import numpy as np
import pytest
from stack_helpers import logits_with_values, model_fn, record_training

from resnet_core import checkpoint

STEPS = 4
WEIGHT_DECAY_RATE = 0.3   # (1+k)/(10+k) < 0.3 for k < 3, then 0.3 caps it: both branches of min()
LOSS_DECAY_RATE = 0.999


def decay_at(decay, k):
    return min(decay, (1.0 + k) / (10.0 + k))


def numpy_shadows(rec):
    shadows = {n: rec.initial[n].astype(np.float64) for n in rec.names}
    for k, weights in enumerate(rec.weights, 1):
        d = decay_at(WEIGHT_DECAY_RATE, k)
        for n in rec.names:
            shadows[n] = d * shadows[n] + (1.0 - d) * weights[n]
    return shadows


@pytest.fixture(scope="module")
def run(digits, tmp_path_factory):
    return record_training(digits, STEPS, checkpoint_dir=str(tmp_path_factory.mktemp("ema")), batch=8,
                           learning_rate=0.05, ema_decay=WEIGHT_DECAY_RATE, loss_ema_decay=LOSS_DECAY_RATE)


def test_weight_shadows_follow_recurrence_with_num_updates(run):
    assert [decay_at(WEIGHT_DECAY_RATE, k) < WEIGHT_DECAY_RATE for k in (1, 3)] == [True, False]
    shadows = numpy_shadows(run)
    for n in run.names:
        np.testing.assert_allclose(run.final[n + "/ExponentialMovingAverage"], shadows[n], rtol=1e-4, atol=1e-6)
        assert not np.allclose(run.final[n], run.initial[n]) or n.endswith("beta")  # weights really moved


def test_smoothed_loss_follows_recurrence(run):
    smoothed = 0.0
    for k, (loss, got) in enumerate(zip(run.losses, run.smoothed), 1):
        d = decay_at(LOSS_DECAY_RATE, k)
        smoothed = d * smoothed + (1.0 - d) * loss
        np.testing.assert_allclose(got, smoothed, rtol=1e-5)


def test_eval_with_ema_weights_equals_model_set_to_shadows(run, digits):
    x, y = digits[2][:32], digits[3][:32]
    accuracy, logits = checkpoint.evaluate(run.checkpoint, model_fn(), x, y, ema_decay=WEIGHT_DECAY_RATE)
    values = dict(run.final)
    values.update(numpy_shadows(run))  # trainable weights := shadows; BN moving stats stay as trained
    expected = logits_with_values(values, x)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(accuracy, np.mean(np.argmax(expected, axis=1) == y))
    raw = logits_with_values(run.final, x)
    assert not np.allclose(raw, expected, rtol=1e-3)  # the averaged weights really are different
