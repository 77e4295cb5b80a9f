"""Every batch-norm implementation through the training loop, not just standalone.

The loop is resnet_core.train.train (what `python -m resnet_core.train --bn X` runs): each of the 8
implementations trains resnet8 for a few steps on digits in a fresh process on the idle core
(scripts/bn_training.py), and the checkpoint it saves is read back. What each implementation documents
(resnet_core/batchnorm.py, api-catalog [b], [c]) is stated here independently:
* every BN layer's moving statistics moved away from their initial values (mean 0, variance 1):
  the trainer's only job, the UPDATE_OPS dependency, reached every layer of every implementation;
* standalone Keras zero-debiases (assign_moving_average(zero_debias=True)): each moving statistic has a
  local_step counter equal to the number of training steps; no other implementation has one;
* the loss goes down (the later half's mean below the first step's).
"""
import json

import background
import pytest

from resnet_core.batchnorm import IMPLEMENTATIONS, available_implementations

STEPS = 6
ARGS = [str(STEPS)] + list(available_implementations())  # the others skip (conftest), with compat's reason
ZERO_DEBIASED = {"keras"}
RESNET8_BN_LAYERS = 7  # stem + 2 per block x 3 blocks (the model's layout, not read from the code)

background.start("bn_training.py", ARGS)


@pytest.fixture(scope="module")
def runs():
    run = background.result("bn_training.py", ARGS)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bn_implementation_trains_and_updates_every_layer(impl, runs):
    run = runs[impl]
    losses = run["losses"]
    assert len(losses) == STEPS and all(loss == loss for loss in losses)  # no NaN
    # Batches of 16 make single steps noisy (standalone Keras once went 2.27 -> 3.46 at step 6): the later
    # half's mean against the first step's loss is the trend, not one step.
    assert sum(losses[STEPS // 2:]) / (STEPS - STEPS // 2) < 0.9 * losses[0], losses
    layers = run["bn_layers"]
    assert len(layers) == RESNET8_BN_LAYERS, sorted(layers)
    assert run["update_ops"] >= 2 * RESNET8_BN_LAYERS
    for name, layer in sorted(layers.items()):
        assert any(abs(v) > 1e-6 for v in layer["moving_mean"]), "%s: moving_mean never updated" % name
        assert any(abs(v - 1.0) > 1e-6 for v in layer["moving_variance"]), "%s: moving_variance never updated" % name
        counters = [layer.get("moving_mean_local_step"), layer.get("moving_variance_local_step")]
        if impl in ZERO_DEBIASED:
            assert counters == [float(STEPS)] * 2, "%s: zero-debias counters %s after %d steps" % (name, counters,
                                                                                                 STEPS)
        else:
            assert counters == [None, None], "%s: unexpected zero-debias state %s" % (name, counters)
