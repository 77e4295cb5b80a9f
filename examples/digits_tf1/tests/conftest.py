"""Shared fixtures. The package is imported inside the fixtures, not here, so an import error
shows up as a failed test (with its traceback) rather than as a broken conftest."""
import pytest

TRAIN_STEPS = 400


@pytest.fixture(scope="session")
def splits():
    from digits_tf1 import data
    from digits_tf1.runtime import quiet

    quiet()
    return data.load(seed=0)


@pytest.fixture(scope="session")
def trained(splits, tmp_path_factory):
    """One real training run shared by the training and checkpoint tests."""
    from digits_tf1 import train

    config = train.Config(steps=TRAIN_STEPS, seed=0)
    result = train.train(config, splits[0], splits[1], checkpoint_dir=str(tmp_path_factory.mktemp("ckpt")))
    result["config"] = config
    return result
