"""Matrix files: the shipped ones parse to the expected cells; every malformed input is refused precisely."""
import textwrap

import pytest

from tfpin.config import matrix as matrices
from tfpin.config.matrix import MatrixError
from tfpin.config.project import Project

TABLE_IDS = [
    "py3.6-tf1.12-keras2.2.4", "py3.7-tf1.12-keras2.2.4",
    "py3.6-tf1.13-keras2.2.4", "py3.7-tf1.13-keras2.2.4",
    "py3.6-tf1.14-keras2.2.5", "py3.7-tf1.14-keras2.2.5",
    "py3.6-tf1.15-keras2.2.5", "py3.7-tf1.15-keras2.2.5",
]


def test_table_is_the_users_table():
    m = matrices.load("table")
    assert [c.id for c in m.cells] == TABLE_IDS
    exact = {c.id: c.pins for c in m.cells}
    assert exact["py3.7-tf1.15-keras2.2.5"] == {"tensorflow": "1.15.5", "keras": "2.2.5"}
    assert exact["py3.6-tf1.12-keras2.2.4"] == {"tensorflow": "1.12.3", "keras": "2.2.4"}
    assert {c.pins["tensorflow"] for c in m.cells} == {"1.12.3", "1.13.2", "1.14.0", "1.15.5"}


def test_full_is_the_cross_product():
    m = matrices.load("full")
    assert len(m.cells) == 16
    assert len({c.id for c in m.cells}) == 16
    assert set(TABLE_IDS) <= {c.id for c in m.cells}
    assert {(c.python, c.pins["keras"]) for c in m.cells} == {
        (p, k) for p in ("3.6", "3.7") for k in ("2.2.4", "2.2.5")}


def test_constraints_follow_their_conditions():
    cells = {c.id: c for c in matrices.load("full").cells}
    old, new = cells["py3.7-tf1.13-keras2.2.5"], cells["py3.7-tf1.15-keras2.2.5"]
    assert "numpy<1.17" in old.constraint_lines() and "numpy<1.17" not in new.constraint_lines()
    assert "numpy<1.19" in new.constraint_lines()
    for cell in cells.values():  # which pins: measured (tfpin pins discover), so not spelled out here
        assert cell.constraints and all(c.reason and c.origin in ("person", "discovered") for c in cell.constraints)


def test_tools_and_pip_come_from_the_python_table():
    cells = {c.id: c for c in matrices.load("table").cells}
    assert "pytest==7.0.1" in cells["py3.6-tf1.15-keras2.2.5"].tools
    assert cells["py3.6-tf1.15-keras2.2.5"].pip == "pip==21.3.1"


GOOD = """
description = "t"
[[cells]]
python = "3.6"
tensorflow = "1.15.5"
[packages.tensorflow]
label = "tf"
id_parts = 2
[pythons."3.6"]
tools = []
"""


def write(tmp_path, text, name="m.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_minimal_custom_matrix(tmp_path):
    m = matrices.load(str(write(tmp_path, GOOD)))
    assert [c.id for c in m.cells] == ["py3.6-tf1.15"]


BAD = [
    ("unknown top-level key", "colour = 1\n" + GOOD, ["unknown key 'colour'", "top level", "allowed keys"]),
    ("unknown cell key", GOOD.replace('tensorflow = "1.15.5"', 'tensorflow = "1.15.5"\ntorch = "2.0.0"'),
     ["unknown key 'torch'", "[[cells]] #1", "allowed keys: python, tensorflow"]),
    ("malformed version", GOOD.replace('"1.15.5"', '"1.15.x"'),
     ["key 'tensorflow' = '1.15.x'", "exact release like"]),
    ("unsupported python", GOOD.replace('python = "3.6"', 'python = "2.7"'),
     ["key 'python' = '2.7' is not supported", "allowed: 3.6"]),
    ("duplicate cell", GOOD + '[[cells]]\npython = "3.6"\ntensorflow = "1.15.5"\n',
     ["duplicate cell py3.6-tf1.15", "[[cells]] #1", "[[cells]] #2"]),
    ("unknown constraint key", GOOD + '[[constraints]]\npin = "h5py<3"\nreason = "r"\nwhy = "x"\n',
     ["unknown key 'why'", "[[constraints]] #1", "allowed keys: leaves, origin, pin, reason, when"]),
    ("bad pin", GOOD + '[[constraints]]\npin = "h5py<<3"\nreason = "r"\n', ["key 'pin' = 'h5py<<3'"]),
    ("constraint without reason", GOOD + '[[constraints]]\npin = "h5py<3"\n', ["non-empty string 'reason'"]),
    ("unknown when key", GOOD + '[[constraints]]\npin = "h5py<3"\nreason = "r"\nwhen = { keras = "<2" }\n',
     ["'when.keras' is unknown", "allowed: python, tensorflow"]),
    ("no cells", GOOD.split("[[cells]]")[0] + GOOD.split('tensorflow = "1.15.5"')[1],
     ["key 'cells' must be a non-empty array"]),
    ("bad package label", GOOD.replace('label = "tf"', 'label = "T F"'), ["[packages.tensorflow] key 'label'"]),
    ("not toml", "cells = [", ["not valid TOML"]),
    ("pins_as an unknown package", GOOD.replace('id_parts = 2', 'id_parts = 2\npins_as = "tf"'),
     ["[packages.tensorflow] key 'pins_as' = 'tf'", "another package of the catalogue (tensorflow)"]),
    # What an audit of bad inputs found crashing later, with a traceback, or making a cell id with a newline:
    ("version with a newline", GOOD.replace('"1.15.5"', '"1.15.5\\n"'),
     ["key 'tensorflow' = '1.15.5\\n' is not an exact release"]),
    ("packages a list", "packages = []\n" + GOOD.split("[packages.tensorflow]")[0] + '[pythons."3.6"]\n',
     ["key 'packages' must be a table, got []"]),
    ("pythons a string", 'pythons = "3.7"\n' + GOOD.split('[pythons."3.6"]')[0], ["key 'pythons' must be a table"]),
    ("cells of numbers", "cells = [1]\n" + GOOD.replace('[[cells]]\npython = "3.6"\ntensorflow = "1.15.5"\n', ""),
     ["[[cells]] #1 must be a table", "got 1"]),
    ("python a table", GOOD.replace('python = "3.6"', 'python = { v = "3.6" }'), ["key 'python' = {'v': '3.6'}"]),
    ("tools not requirements", GOOD.replace("tools = []", "tools = [1]"),
     ["[pythons.\"3.6\"] key 'tools' = [1] must be a list of requirement strings"]),
    ("pip not on pip", GOOD.replace("tools = []", 'pip = "numpy<2"'),
     ["key 'pip' = 'numpy<2' must be a requirement on pip"]),
    ("description not a string", GOOD.replace('description = "t"', "description = 5"),
     ["key 'description' = 5 must be a string"]),
    ("package name a command", GOOD.replace("[packages.tensorflow]", '[packages."$(touch X)"]'),
     ["'$(touch X)' is not a package name"]),
]


@pytest.mark.parametrize("text,fragments", [(t, f) for _, t, f in BAD], ids=[b[0] for b in BAD])
def test_invalid_matrix_is_refused_with_file_key_and_allowed(tmp_path, text, fragments):
    path = write(tmp_path, text)
    with pytest.raises(MatrixError) as info:
        matrices.load(str(path))
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


# A second cell (1.14) and two pins, the second documenting what it leaves open on each release.
LEAVES = GOOD.replace('[packages.tensorflow]',
                      '[[cells]]\npython = "3.6"\ntensorflow = "1.14.0"\n[packages.tensorflow]') + (
    '[[constraints]]\npin = "numpy<1.19"\nreason = "r"\n'
    '[[constraints]]\npin = "pyyaml<6.0"\nreason = "r"\n'
    'leaves = [\n'
    '  { failure = "old fails", opt_in = "pyyaml<5.1", why_not = "CVE-2017-18342", when = { tensorflow = "<1.15" } },\n'
    '  { failure = "new fails", why_not = "no release closes it", when = { tensorflow = "1.15.5" } },\n'
    '  { failure = "everywhere", opt_in = "pyyaml==3.13; python_version < \'3.7\'", why_not = "w" },\n'
    ']\n')


def test_leaves_document_a_pin_per_cell_without_changing_what_it_installs(tmp_path):
    """`leaves` (failure, opt_in, why_not, when): each cell's constraint carries the ones that concern it; the
    cell's definition (its stamp: what it installs) is the same as without them."""
    from tfpin.config.cells import Leave

    cells = {c.id: c for c in matrices.load(str(write(tmp_path, LEAVES))).cells}
    plain = {c.id: c for c in matrices.load(str(write(tmp_path, LEAVES.split("leaves = [")[0], "plain.toml"))).cells}
    old, new = cells["py3.6-tf1.14"], cells["py3.6-tf1.15"]
    numpy_old, yaml_old = old.constraints
    assert numpy_old.leaves == () and yaml_old.pin == "pyyaml<6.0"
    assert [leave.failure for leave in yaml_old.leaves] == ["old fails", "everywhere"]
    assert yaml_old.leaves[0] == Leave("old fails", "CVE-2017-18342", "pyyaml<5.1", (("tensorflow", "<1.15"),))
    assert [(leave.failure, leave.opt_in) for leave in new.constraints[1].leaves] == [
        ("new fails", ""), ("everywhere", "pyyaml==3.13; python_version < '3.7'")]
    assert new.constraints[1].leaves[0].when == (("tensorflow", "==1.15.5"),)
    for cid, cell in cells.items():
        assert cell.definition() == plain[cid].definition(), cid
        hash(cell)  # still a frozen, hashable value
    table = {c.id: c for c in matrices.load("table").cells}
    (yaml_pin,) = [c for c in table["py3.6-tf1.12-keras2.2.4"].constraints if c.pin == "pyyaml<6.0"]
    assert [leave.opt_in for leave in yaml_pin.leaves] == ["pyyaml<5.1"]
    assert "ConstructorError" in yaml_pin.leaves[0].failure and "CVE-2017-18342" in yaml_pin.leaves[0].why_not
    (yaml_pin,) = [c for c in table["py3.7-tf1.15-keras2.2.5"].constraints if c.pin == "pyyaml<6.0"]
    assert [leave.opt_in for leave in yaml_pin.leaves] == [""]  # keras 2.2.5: no PyYAML release loads it


def _leave(text):
    return GOOD + '[[constraints]]\npin = "h5py<3"\nreason = "r"\n[[constraints]]\npin = "pyyaml<6.0"\nreason = "r"\n' \
        'leaves = %s\n' % text


BAD_LEAVES = [
    ("not an array", '"x"', ["key 'leaves' must be an array of inline tables"]),
    ("not a table", '["x"]', ["key 'leaves[1]' must be a table"]),
    ("unknown key", '[{ failure = "f", why_not = "w", fix = "x" }]',
     ["unknown key 'fix'", "key 'leaves[1]'", "allowed keys: failure, opt_in, when, why_not"]),
    ("no failure", '[{ why_not = "w" }]', ["key 'leaves[1].failure' must be a non-empty string"]),
    ("empty why_not", '[{ failure = "f", why_not = " " }]', ["key 'leaves[1].why_not' must be a non-empty string"]),
    ("non-string opt_in", '[{ failure = "f", why_not = "w", opt_in = 5 }]',
     ["key 'leaves[1].opt_in' must be a non-empty string"]),
    ("empty opt_in", '[{ failure = "f", why_not = "w", opt_in = "" }]',
     ["key 'leaves[1].opt_in' must be a non-empty string"]),
    ("opt_in not PEP 508", '[{ failure = "f", why_not = "w" }, { failure = "f", why_not = "w", opt_in = "pyyaml<<5" }]',
     ["key 'leaves[2].opt_in' = 'pyyaml<<5' is not a requirement (a PEP 508 pin"]),
    ("unknown when key", '[{ failure = "f", why_not = "w", when = { keras = "2.2.4" } }]',
     ["key 'leaves[1].when.keras' is unknown", "allowed: python, tensorflow"]),
    ("bad when specifier", '[{ failure = "f", why_not = "w", when = { tensorflow = "=>1" } }]',
     ["key 'leaves[1].when.tensorflow' = '=>1' is not a version specifier"]),
    ("when not a table", '[{ failure = "f", why_not = "w", when = "1.15" }]', ["key 'leaves[1].when' must be a table"]),
]


@pytest.mark.parametrize("text,fragments", [(t, f) for _, t, f in BAD_LEAVES], ids=[b[0] for b in BAD_LEAVES])
def test_invalid_leaves_are_refused_with_file_entry_and_key(tmp_path, text, fragments):
    path = write(tmp_path, _leave(text))
    with pytest.raises(MatrixError) as info:
        matrices.load(str(path))
    message = str(info.value)
    assert str(path) in message and "[[constraints]] #2" in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_an_extends_cycle_is_refused_naming_it(tmp_path):
    a = write(tmp_path, 'extends = "b.toml"\n', name="a.toml")
    write(tmp_path, 'extends = "a.toml"\n', name="b.toml")
    with pytest.raises(MatrixError) as info:
        matrices.load(str(a))
    assert "key 'extends' makes a cycle: %s -> %s -> %s" % (a, tmp_path / "b.toml", a) in str(info.value)


def test_extends_may_not_redefine_inherited_keys(tmp_path):
    write(tmp_path, GOOD, "base.toml")
    child = write(tmp_path, 'extends = "base.toml"\n[[cells]]\npython = "3.6"\ntensorflow = "1.14.0"\n'
                  '[pythons."3.6"]\ntools = []\n')
    with pytest.raises(MatrixError, match="key 'pythons' is inherited from base.toml"):
        matrices.load(str(child))


def test_missing_matrix_lists_the_available_ones():
    with pytest.raises(MatrixError, match="available: distributions, full, gpu, migration, table"):
        matrices.load("nosuch")


def test_unknown_cell_selection_names_the_matrix():
    m = matrices.load("table")
    with pytest.raises(MatrixError, match="unknown cell id.*py3.8-tf2.0"):
        m.select(["py3.8-tf2.0"])


def test_gpu_cells_get_the_pins_of_their_tensorflow_release():
    """tensorflow-gpu `pins_as` tensorflow: `when = { tensorflow = "<1.15" }` selects the GPU build of 1.14 too."""
    table = {(c.python, c.pins["tensorflow"]): set(c.constraint_lines()) for c in matrices.load("table").cells}
    gpu = matrices.load("gpu")
    assert len(gpu.cells) == 8 and all(c.id.split("-")[1].startswith("tfgpu1.1") for c in gpu.cells)
    for cell in gpu.cells:
        assert set(cell.constraint_lines()) == table[(cell.python, cell.pins["tensorflow-gpu"])], cell.id
    assert gpu.constraints_path.name == "table.toml"  # where `pins apply` writes for a matrix that extends


def test_pins_as_does_not_override_a_real_requirement(tmp_path):
    text = GOOD.replace('tensorflow = "1.15.5"', 'tensorflow = "1.15.5"\ntfgpu = "1.12.3"') + (
        '[packages.tfgpu]\nlabel = "tg"\nid_parts = 2\npins_as = "tensorflow"\n'
        '[[constraints]]\npin = "numpy<1.17"\nreason = "r"\nwhen = { tensorflow = "<1.15" }\n')
    (cell,) = matrices.load(str(write(tmp_path, text))).cells
    assert cell.constraint_lines() == []  # the cell's own tensorflow 1.15.5 decides, not tfgpu's 1.12.3


def test_distributions_and_migration_matrices():
    """distributions: intel-tensorflow beside stock 1.15, answering the pins of its own release (1.15.2 gets
    the `<1.15.5` ones); migration: at least three TF 2.x releases, tf.keras only (no standalone Keras)."""
    from tfpin.report import build as report

    dist = matrices.load("distributions")
    intel = [c for c in dist.cells if "intel-tensorflow" in c.pins]
    assert [c.id for c in intel] == ["py3.6-intel-tf1.15-keras2.2.5", "py3.7-intel-tf1.15-keras2.2.5"]
    for cell in intel:
        lines = cell.constraint_lines()
        assert "numpy<1.19" in lines and "h5py<3.0.0" in lines and "numpy<1.17" not in lines, cell.id
        peer = report.stock_peer(dist, {"python": cell.python, "requirements": cell.pins})
        assert peer == "py%s-tf1.15-keras2.2.5" % cell.python and peer in {c.id for c in dist.cells}
    migration = matrices.load("migration")
    releases = {tuple(int(p) for p in c.pins["tensorflow"].split(".")[:2]) for c in migration.cells}
    assert len(releases) >= 3 and min(releases) >= (2, 0), releases
    assert not any("keras" in c.pins for c in migration.cells)


def test_the_versions_recorded_are_the_matrix_own_packages(tmp_path):
    """What each result records of its env (and the report shows as version columns) comes from the matrix: the
    packages its cells pin, in catalogue order (a `pins_as` build in its stock package's column), the packages its
    constraints and the project's pin, then pytest; a catalogue package no cell pins is not among them."""
    table = matrices.load("table")
    assert table.recorded == ("tensorflow", "keras", "numpy", "gast", "h5py", "protobuf", "pyyaml", "pytest")
    assert all(c.recorded == table.recorded for c in table.cells)  # tensorflow-gpu: in the catalogue, pinned by none
    columns = matrices.load("distributions").version_columns()
    assert columns[:2] == [{"name": "tensorflow", "builds": ["intel-tensorflow"]}, {"name": "keras", "builds": []}]
    text = GOOD.replace("[packages.tensorflow]", "[packages.six]\nlabel = \"six\"\nid_parts = 3\n[packages.tensorflow]")
    text = text.replace('tensorflow = "1.15.5"', 'six = "1.16.0"') + '[[constraints]]\npin = "Toml<0.11"\nreason = "r"'
    project = Project(tmp_path, tmp_path / "tfpin.toml", constraints=[{"pin": "attrs<22", "reason": "r"}])
    m = matrices.load(str(write(tmp_path, text)), project)
    assert m.recorded == ("six", "toml", "attrs", "pytest")  # canonical names, as the env's freeze spells them
