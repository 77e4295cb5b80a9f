"""tox.ini and matrices/ agree: the file is exactly what the generator makes from the matrices."""
import os
import subprocess
import sys

from conftest import ROOT

from tfpin.config import matrix as matrices
from tfpin.config import project as projects
from tfpin.generate import toxini


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


def test_a_users_tox_ini_is_never_overwritten_without_force_and_keeps_its_other_sections(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tfpin.toml").write_text('test = ["tests"]\n')
    mine = "[tox]\nenv_list = py311\n\n[testenv]\ncommands = pytest\n\n[pytest]\naddopts = -q\n\n[flake8]\nmax = 1\n"
    (tmp_path / "tox.ini").write_text(mine)

    def tox_ini(*args):
        return subprocess.run([sys.executable, "-m", "tfpin", "tox-ini", *args], cwd=tmp_path, capture_output=True,
                              text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))

    refused = tox_ini()
    assert refused.returncode == 2 and "was not written by tfpin: pass --force" in refused.stderr
    assert (tmp_path / "tox.ini").read_text() == mine
    assert tox_ini("--force").returncode == 0
    text = (tmp_path / "tox.ini").read_text()
    assert text.startswith("# Generated from matrices/") and "env_list = py311" not in text
    assert text.endswith("[pytest]\naddopts = -q\n\n[flake8]\nmax = 1\n")
    assert tox_ini().returncode == 0 and tox_ini("--check").returncode == 0  # now tfpin's: regenerated in place
    assert (tmp_path / "tox.ini").read_text() == text
