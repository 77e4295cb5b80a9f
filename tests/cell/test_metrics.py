"""Streaming accuracy (seed-spec §7) against a numpy running count."""
import numpy as np
from stack_helpers import record_training

from compat import tf1

BATCHES = [([1, 2, 3, 4], [1, 2, 0, 0]), ([5, 5, 5], [5, 0, 5]), ([7, 8], [7, 8]), ([0] * 5, [1] * 5)]


def test_accuracy_value_lags_update_op(session):
    labels = tf1.placeholder(tf1.int64, [None])
    predictions = tf1.placeholder(tf1.int64, [None])
    accuracy, update_op = tf1.metrics.accuracy(labels, predictions)
    session.run(tf1.local_variables_initializer())  # counters are LOCAL variables
    correct = total = 0
    for y, p in BATCHES:
        before = session.run(accuracy)
        expected_before = correct / total if total else 0.0
        np.testing.assert_allclose(before, expected_before, rtol=1e-6)
        correct += int(np.sum(np.equal(y, p)))
        total += len(y)
        np.testing.assert_allclose(session.run(update_op, {labels: y, predictions: p}), correct / total, rtol=1e-6)
        np.testing.assert_allclose(session.run(accuracy), correct / total, rtol=1e-6)


def test_training_accuracy_streams_over_all_towers(digits):
    """Two towers: the running accuracy counts every image of every step once."""
    rec = record_training(digits, steps=3, towers=2, batch=8, learning_rate=0.05)
    correct = total = 0
    for logits, labels, acc in zip(rec.logits, rec.labels, rec.accuracies):
        assert logits.shape[0] == len(labels) == 8
        correct += int(np.sum(np.argmax(logits, axis=1) == labels))
        total += len(labels)
        np.testing.assert_allclose(acc, correct / total, rtol=1e-6)
