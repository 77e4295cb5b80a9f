"""tox.ini and matrices/ agree: the file is exactly what the generator makes from the matrices."""
from conftest import ROOT

from tfpin import matrix as matrices
from tfpin import project as projects
from tfpin import toxini


def test_tox_ini_is_generated_from_matrices():
    project = projects.load(ROOT)
    expected = toxini.render(matrices.load("full"), matrices.load("table"), project.test, project.install)
    assert (ROOT / "tox.ini").read_text() == expected, "tox.ini is stale: run `python -m tfpin tox-ini`"


def test_every_full_cell_has_its_pins_in_tox():
    text = (ROOT / "tox.ini").read_text()
    for cell in matrices.load("full").cells:
        assert "%s: TFPIN_CELL = %s" % (cell.tox_env(), cell.env_token()) in text
    assert "tf112,tf113,tf114: numpy<1.17" in text
    assert "virtualenv_spec = virtualenv<20.22" in text
