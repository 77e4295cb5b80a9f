"""Our checkpoints and h5 models across releases: written in every cell, read in every other one.

Through tfpin's API (its in-cell plugin, `tfpin_cross`): the writers keep their files as artifacts of
the cell they ran in; tfpin then runs each reader in every passed cell once per writing cell, and the
report shows the grid (written in × read in). Run by hand, without tfpin, this module is skipped.
"""
import glob
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("tfpin_cross", reason="tfpin's in-cell plugin: the checks between cells run under tfpin")

INPUTS = 16  # the first test digits: what every reader feeds the restored model


def test_checkpoint_is_kept_for_the_other_cells(trained, splits, tfpin_artifact):
    directory = tfpin_artifact("checkpoint", logits=trained["test_logits"][:INPUTS].tolist(),
                               series={"loss": trained["losses"]})
    for path in glob.glob(trained["checkpoint"] + ".*"):
        shutil.copy(path, directory)
    np.save(os.path.join(directory, "inputs.npy"), splits[1].images[:INPUTS])


def test_keras_h5_is_kept_for_the_other_cells(splits, tfpin_artifact):
    from digits_tf1 import keras_mlp

    keras_mlp.fresh_session(seed=0)
    try:
        model = keras_mlp.build()
        keras_mlp.fit(model, splits[0], epochs=2)
        x = splits[1].images[:INPUTS]
        directory = tfpin_artifact("keras-h5", logits=model.predict(x).tolist())
        keras_mlp.save(model, os.path.join(directory, "digits_mlp.h5"))
        np.save(os.path.join(directory, "inputs.npy"), x)
    finally:
        keras_mlp.fresh_session()


@pytest.mark.tfpin_reads("checkpoint")
def test_checkpoint_restores_with_the_same_logits(tfpin_source):
    from digits_tf1 import train

    prefix = glob.glob(os.path.join(tfpin_source.path, "*.index"))[0][:-len(".index")]
    with train.Predictor(prefix) as restored:
        logits = restored.logits(np.load(os.path.join(tfpin_source.path, "inputs.npy")))
    tfpin_source.record(max_abs_diff=float(np.max(np.abs(logits - np.array(tfpin_source.meta["logits"])))),
                        logits=logits.tolist())
    np.testing.assert_allclose(logits, tfpin_source.meta["logits"], rtol=1e-4, atol=1e-4)


@pytest.mark.tfpin_reads("keras-h5")
def test_keras_h5_loads_with_the_same_outputs(tfpin_source):
    from digits_tf1 import keras_mlp

    keras_mlp.fresh_session(seed=0)
    try:
        model = keras_mlp.load(os.path.join(tfpin_source.path, "digits_mlp.h5"))
        got = model.predict(np.load(os.path.join(tfpin_source.path, "inputs.npy")))
    finally:
        keras_mlp.fresh_session()
    tfpin_source.record(max_abs_diff=float(np.max(np.abs(got - np.array(tfpin_source.meta["logits"])))),
                        outputs=got.tolist())
    np.testing.assert_allclose(got, tfpin_source.meta["logits"], rtol=1e-4, atol=1e-5)
