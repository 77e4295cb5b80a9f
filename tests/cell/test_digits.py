"""End to end on real data: the full stack (2 towers, BN updates, decay, clipping, EMA eval from
a checkpoint in a fresh graph) must learn sklearn's digits, in every cell."""
import pytest

from resnet_core.train import config_from, train

MIN_TEST_ACCURACY = 0.95
MAX_TRAIN_SECONDS = 60.0


@pytest.mark.slow
def test_resnet20_learns_digits():
    config = config_from(dataset="digits", model="resnet20", towers=2, steps=150, batch_size=32, lr=0.1,
                         ema_decay=0.999, clip_norm=5.0, weight_decay=2e-4, seed=0)
    result = train(config)
    assert result["finite"]
    assert result["train_seconds"] < MAX_TRAIN_SECONDS
    assert result["losses"][-1] < result["losses"][0] / 4
    assert result["test_accuracy"] >= MIN_TEST_ACCURACY, result["test_accuracy"]
