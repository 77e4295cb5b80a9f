"""The CLI refuses bad input before running anything and exits 2."""
import subprocess
import sys

from conftest import ROOT


def tfpin(*args):
    return subprocess.run([sys.executable, "-m", "tfpin", *args], cwd=ROOT, capture_output=True, text=True)


def test_bad_matrix_file_exit_2_and_names_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[cells]]\npython = "3.9"\n')
    out = tfpin("matrix", "--matrix", str(bad), "--reports", str(tmp_path / "r"))
    assert out.returncode == 2
    assert str(bad) in out.stderr and "not supported" in out.stderr
    assert not (tmp_path / "r").exists()  # nothing ran, nothing written


def test_unknown_cell_exit_2():
    out = tfpin("matrix", "--cells", "py3.9-tf9.9-keras9.9.9", "--reports", "/nonexistent")
    assert out.returncode == 2 and "unknown cell id" in out.stderr


def test_list_json_has_every_table_cell():
    import json

    out = tfpin("list", "--json")
    assert out.returncode == 0
    assert len(json.loads(out.stdout)) == 8
