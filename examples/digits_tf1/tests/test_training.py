"""A short real training run (400 steps of batch 64 on the digits) must learn."""
import json
import os

import numpy as np
from digits_tf1 import train

MIN_TEST_ACCURACY = 0.93


def test_loss_decreases(trained):
    losses = np.array(trained["losses"])
    assert np.all(np.isfinite(losses))
    assert trained["steps"] == trained["config"].steps
    first, last = losses[:20].mean(), losses[-20:].mean()
    assert losses[0] > 1.5  # starts near ln(10) = 2.30
    assert last < first / 5, (first, last)


def test_reaches_test_accuracy(trained):
    assert trained["test_accuracy"] >= MIN_TEST_ACCURACY, trained["test_accuracy"]


def test_ema_weights_from_the_checkpoint_also_classify(trained, splits):
    with train.Predictor(trained["checkpoint"], use_ema=True, ema_decay=trained["config"].ema_decay) as ema:
        assert ema.accuracy(splits[1]) >= MIN_TEST_ACCURACY


def test_same_seed_same_losses(splits):
    """Two sessions on one seeded graph: same initial weights, same batches, same losses."""
    graph = train.TrainGraph(train.Config(seed=7), splits[0])
    runs = []
    for _ in range(2):
        with graph.session() as sess:
            runs.append([sess.run([graph.train_op, graph.cross_entropy])[1] for _ in range(5)])
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-5)
    assert runs[0][-1] < runs[0][0]


def test_cli_trains_and_reports_json(tmp_path, capsys):
    assert train.main(["--steps", "30", "--checkpoint-dir", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 30
    assert summary["last_loss"] < summary["first_loss"]
    assert os.path.exists(summary["checkpoint"] + ".index")
    assert 0.0 <= summary["ema_test_accuracy"] <= 1.0
