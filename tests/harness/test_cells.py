"""One spelling of a cell everywhere: ids, tox env names and the token the cell suite reads."""
import pytest

from tfpin.config import matrix as matrices

CELLS = {c.id: c for c in matrices.load("full").cells}


@pytest.mark.parametrize("cid,tox", [
    ("py3.7-tf1.15-keras2.2.5", "py37-tf115-keras225"),
    ("py3.6-tf1.12-keras2.2.4", "py36-tf112-keras224"),
])
def test_ids_and_tox_names(cid, tox):
    assert CELLS[cid].tox_env() == tox


def test_env_token_carries_exact_versions():
    token = CELLS["py3.6-tf1.14-keras2.2.4"].env_token()
    assert token == "py3.6-tf1.14-keras2.2.4 python=3.6 tensorflow==1.14.0 keras==2.2.4"


def test_requirement_lines_pin_exactly_and_add_tools():
    lines = CELLS["py3.7-tf1.13-keras2.2.5"].requirement_lines()
    assert lines[:2] == ["tensorflow==1.13.2", "keras==2.2.5"]
    assert "pytest==7.4.4" in lines
