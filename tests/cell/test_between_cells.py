"""Checkpoints, Keras h5 files, logits and the loss curve between cells, through tfpin's API (any project's).

The writer runs in every cell's suite and keeps resnet_core/artifacts.py's evidence as this cell's artifact
`resnet20`: the checkpoint of the CLI's digits run that the suite trained anyway (conftest.py's cli_digits),
its losses and its h5 files; tfpin then runs the readers in every passed cell once per writing cell (ids end
in `from:<cell>`), so the report gets the grid of every (writer, reader) pair, what each recorded (the largest
logit difference against the writer's own, the logits for the drift between reading cells) and the writers'
loss curves. A pair that does not restore fails its test: a finding, not a failed run.
Run by hand, without tfpin's in-cell plugin, this module is skipped.
"""
import pytest

pytest.importorskip("tfpin_cross", reason="tfpin's in-cell plugin: the checks between cells run under tfpin")

from compat import keras as ck  # noqa: E402
from resnet_core import artifacts  # noqa: E402

ARTIFACT = "resnet20"
FLAVOURS = ("keras", "tf.keras")  # what a writer may have saved; a reading cell loads with the ones it has


def test_training_evidence_is_kept_for_the_other_cells(tfpin_artifact, cli_digits):
    config, result = cli_digits  # conftest.py: the CLI's digits run, which test_digits.py checks learned
    directory = tfpin_artifact(ARTIFACT)
    manifest = artifacts.write(directory, config, result)
    tfpin_artifact.meta(ARTIFACT, series={"loss": manifest["losses"]}, h5=sorted(manifest["h5"]),
                        versions=manifest["versions"])
    assert manifest["h5"] and len(manifest["losses"]) == config.steps


@pytest.fixture(scope="module")
def checkpoints():
    reader = artifacts.Checkpoints()
    yield reader
    reader.close()


@pytest.fixture(scope="module", params=ck.available_flavours(), ids=lambda f: "loaded-by-" + f)
def h5_files(request):
    reader = artifacts.H5Files(request.param)
    yield reader
    reader.close()


@pytest.mark.tfpin_reads(ARTIFACT)
def test_checkpoint_restores_with_the_writers_logits(tfpin_source, checkpoints):
    got, expected = checkpoints.restore(tfpin_source.path)
    tfpin_source.record(max_abs_logit_diff=artifacts.max_abs(got, expected), logits=got.tolist())


@pytest.mark.tfpin_reads(ARTIFACT)
@pytest.mark.parametrize("written_by", FLAVOURS, ids=lambda f: "written-by-" + f)
def test_h5_loads_with_the_writers_logits(tfpin_source, written_by, h5_files):
    if written_by not in tfpin_source.meta.get("h5", ()):
        pytest.skip("%s has no %s to write an h5 with" % (tfpin_source.cell, written_by))
    got, expected = h5_files.load(tfpin_source.path, written_by)
    tfpin_source.record(max_abs_logit_diff=artifacts.max_abs(got, expected))
