"""Project configuration (tfpin.toml / [tool.tfpin]): found from any subdirectory, every mistake refused precisely."""
import os
import textwrap

import pytest

from tfpin.config import matrix as matrices
from tfpin.config import project as projects
from tfpin.config.project import ProjectError

MINIMAL = 'matrix = "table"                         # a built-in name or a path\ntest = ["tests/test_model.py"]\n'


def make(tmp_path, text, name="tfpin.toml"):
    (tmp_path / "tests").mkdir(exist_ok=True)
    (tmp_path / "tests" / "test_model.py").write_text("def test_x():\n    assert True\n")
    (tmp_path / "requirements-test.txt").write_text("pyyaml<6\n")
    if isinstance(text, bytes):  # as a person's editor saved it, e.g. Latin-1
        (tmp_path / name).write_bytes(text)
    else:
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path / name


def test_the_minimal_file_works_from_a_subdirectory(tmp_path):
    make(tmp_path, MINIMAL)
    sub = tmp_path / "pkg" / "deep"
    sub.mkdir(parents=True)
    project = projects.load(sub)
    assert project.root == tmp_path and project.test == ["tests/test_model.py"] and project.matrix == "table"
    assert project.timeout == projects.DEFAULT_TIMEOUT and project.install == []


def test_without_a_test_key_pytest_discovers_from_the_root(tmp_path):
    """No `test`: tfpin passes no paths, so pytest's own discovery (testpaths, else the root) decides."""
    make(tmp_path, 'matrix = "table"\n')
    assert projects.load(tmp_path).test == []


def test_tool_tfpin_in_pyproject(tmp_path):
    make(tmp_path, '[project]\nname = "x"\n\n[tool.tfpin]\ntest = ["tests"]\ninstall = ["."]\n', "pyproject.toml")
    project = projects.load(tmp_path)
    assert project.source.name == "pyproject.toml" and project.install == ["."]


def test_pyproject_without_tool_tfpin_is_not_a_project(tmp_path):
    make(tmp_path, '[project]\nname = "x"\n', "pyproject.toml")
    with pytest.raises(ProjectError, match="run `tfpin init`"):
        projects.load(tmp_path)


def test_this_repository_is_a_project():
    from conftest import ROOT

    project = projects.load(ROOT)
    assert project.root == ROOT and project.test == ["tests/cell"]


def test_project_constraints_and_install_reach_every_cell_and_the_stamp(tmp_path):
    from tfpin.cell.runner import stamp

    path = make(tmp_path, MINIMAL + 'install = ["-r requirements-test.txt"]\n[[constraints]]\npin = "pillow<9"\n'
                'reason = "our image code uses Image.ANTIALIAS"\nwhen = { tensorflow = "<1.14" }\n')
    project = projects.load_file(path)
    cells = {c.id: c for c in matrices.load(project.matrix, project).cells}
    assert "pillow<9" in cells["py3.6-tf1.13-keras2.2.4"].constraint_lines()
    assert "pillow<9" not in cells["py3.6-tf1.15-keras2.2.5"].constraint_lines()
    assert cells["py3.6-tf1.15-keras2.2.5"].install == ("-r requirements-test.txt",)
    before = stamp(cells["py3.6-tf1.15-keras2.2.5"], project.install_digest())
    (tmp_path / "requirements-test.txt").write_text("pyyaml<5\n")  # the named file's content is in the stamp
    assert stamp(cells["py3.6-tf1.15-keras2.2.5"], project.install_digest()) != before


BAD = [
    ("unknown key", MINIMAL + "colour = 1\n",
     ["unknown key 'colour' in top level", "allowed keys: bench, constraints, cores, env"]),
    ("bench not a command", MINIMAL + 'bench = "python bench.py"\n',
     ["key 'bench' = 'python bench.py'", "list of arguments to the cell's Python"]),
    ("retired cross", MINIMAL + 'cross = { write = ["-m", "a"] }\n', ["key 'cross' is no longer read",
                                                                    "@pytest.mark.tfpin_reads(name)"]),
    ("empty test list", 'test = []\n', ["key 'test' = []", "non-empty list of pytest arguments"]),
    ("test path missing", 'test = ["tests/nope.py"]\n',
     ["key 'test' = ['tests/nope.py']", "tests/nope.py, which does not exist"]),
    ("matrix not a string", 'matrix = 3\ntest = ["tests"]\n', ["key 'matrix' = 3", "built-in matrix name"]),
    ("install not a list", 'test = ["tests"]\ninstall = "."\n', ["key 'install' = '.'", "list of requirement lines"]),
    ("install bad line", 'test = ["tests"]\ninstall = ["pyyaml<<6"]\n',
     ["key 'install' line 'pyyaml<<6' is not a requirement"]),
    ("install missing file", 'test = ["tests"]\ninstall = ["-r nope.txt"]\n',
     ["line '-r nope.txt' must name a requirements file", "that file must exist"]),
    ("install absolute -r", 'test = ["tests"]\ninstall = ["-r /etc/hostname"]\n',
     ["line '-r /etc/hostname' must name a requirements file by a path relative to the project root"]),
    ("install line with a newline", 'test = ["tests"]\ninstall = ["six==1.16.0\\n"]\n',
     ["key 'install' line 'six==1.16.0\\n' holds a control character"]),
    ("sources absolute", 'test = ["tests"]\nsources = ["/etc"]\n',
     ["key 'sources' = ['/etc']", "not a path under the project root"]),
    ("sources out of the root", 'test = ["tests"]\nsources = ["../x"]\n', ["names '../x', which is not a path under"]),
    ("env NUL", 'test = ["tests"]\n[env]\nA = "x\\u0000y"\n', ["key 'env.A' must be a variable name with a string "
                                                                  "value (no NUL)"]),
    ("env a variable tfpin sets", 'test = ["tests"]\n[env]\nTFPIN_CELL = "x"\n',
     ["key 'env.TFPIN_CELL': tfpin sets TFPIN_CELL itself", "PYTHONPATH is the one such variable"]),
    ("test argument with a newline", 'test = ["tests\\n"]\n', ["key 'test' argument 'tests\\n' holds a control"]),
    ("not UTF-8", b'test = ["t\xe9sts"]\n', ["not UTF-8 (byte 0xe9 on line 1)", "save it as UTF-8"]),
    ("env not a table", 'test = ["tests"]\nenv = "A=1"\n', ["key 'env' = 'A=1'", "table of NAME"]),
    ("env bad value", 'test = ["tests"]\n[env]\nA = 1\n', ["key 'env.A' must be a variable name with a string value"]),
    ("pass_env not names", 'test = ["tests"]\npass_env = ["APP MODE"]\n',
     ["key 'pass_env' = ['APP MODE']", "host variable names or globs"]),
    ("pass_env a variable tfpin sets", 'test = ["tests"]\npass_env = ["PYTHONPATH"]\n',
     ["key 'pass_env' names PYTHONPATH", "give a value under [env] instead"]),
    ("pass_env an installer constraint", 'test = ["tests"]\npass_env = ["UV_CONSTRAINT"]\n',
     ["key 'pass_env' names UV_CONSTRAINT"]),
    ("timeout zero", 'test = ["tests"]\ntimeout = 0\n', ["key 'timeout' = 0", "positive whole number of seconds"]),
    ("constraints not an array", 'test = ["tests"]\nconstraints = "x"\n',
     ["key 'constraints' = 'x'", "array of tables"]),
    ("not toml", 'test = ["tests"\n', ["not valid TOML"]),
]


@pytest.mark.parametrize("text,fragments", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_project_file_is_refused_with_file_and_key(tmp_path, text, fragments):
    path = make(tmp_path, text)
    with pytest.raises(ProjectError) as info:
        projects.load(tmp_path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


BAD_CONSTRAINTS = [
    ("constraint unknown key", '[[constraints]]\npin = "a<1"\nreason = "r"\nwhy = "x"\n', "unknown key 'why'"),
    ("constraint bad pin", '[[constraints]]\npin = "a<<1"\nreason = "r"\n', "key 'pin' = 'a<<1'"),
    ("constraint no reason", '[[constraints]]\npin = "a<1"\n', "non-empty string 'reason'"),
    ("constraint bad when", '[[constraints]]\npin = "a<1"\nreason = "r"\nwhen = { torch = "<2" }\n',
     "'when.torch' is unknown"),
]


@pytest.mark.parametrize("text,fragment", [b[1:] for b in BAD_CONSTRAINTS], ids=[b[0] for b in BAD_CONSTRAINTS])
def test_project_constraints_are_validated_like_matrix_ones(tmp_path, text, fragment):
    path = make(tmp_path, MINIMAL + text)
    project = projects.load(tmp_path)
    with pytest.raises(matrices.MatrixError) as info:
        matrices.load(project.matrix, project)
    assert str(path) in str(info.value) and "[[constraints]] #1" in str(info.value) and fragment in str(info.value)


def test_project_matrix_extends_a_builtin_and_removes_cells(tmp_path):
    (tmp_path / "m.toml").write_text('extends = "table"\n'
                                     'remove = ["py3.6-tf1.12-keras2.2.4", "py3.7-tf1.12-keras2.2.4"]\n'
                                     '[[cells]]\npython = "3.7"\ntensorflow = "1.15.5"\nkeras = "2.2.4"\n')
    make(tmp_path, 'matrix = "m.toml"\ntest = ["tests"]\n')
    project = projects.load(tmp_path)
    m = matrices.load(project.matrix, project)
    ids = [c.id for c in m.cells]
    assert len(ids) == 7 and "py3.6-tf1.12-keras2.2.4" not in ids and ids[-1] == "py3.7-tf1.15-keras2.2.4"
    assert "numpy<1.19" in m.cells[-1].constraint_lines()  # the table's pins apply to added cells


@pytest.mark.parametrize("text,fragment", [
    ('extends = "tabel"\n', "key 'extends' names"),
    ('extends = "table"\nremove = ["py9-x"]\n', "key 'remove' names py9-x, not a cell of table.toml"),
    ('remove = ["py3.6-tf1.12-keras2.2.4"]\n[[cells]]\npython = "3.6"\n',
     "key 'remove' only makes sense with 'extends'"),
    ('extends = "table"\n[[cells]]\npython = "3.7"\ntensorflow = "1.15.5"\nkeras = "2.2.5"\n',
     "duplicate cell py3.7-tf1.15-keras2.2.5"),
])
def test_bad_extends_and_remove(tmp_path, text, fragment):
    (tmp_path / "m.toml").write_text(text)
    with pytest.raises(matrices.MatrixError) as info:
        matrices.load(str(tmp_path / "m.toml"))
    assert str(tmp_path / "m.toml") in str(info.value) and fragment in str(info.value)


def test_an_option_and_its_value_are_not_test_paths(tmp_path):
    make(tmp_path, 'test = ["tests", "-m", "not slow", "-k", "model or data", "-p", "no:randomly"]\n')
    assert projects.load(tmp_path).test == ["tests", "-m", "not slow", "-k", "model or data", "-p", "no:randomly"]


@pytest.mark.parametrize("spelling", [
    '[tool.tfpin]\ntest = ["tests"]\n',
    '[ tool.tfpin ]\ntest = ["tests"]\n',
    '[tool]\ntfpin = { test = ["tests"] }\n',
    'tool.tfpin.test = ["tests"]\n',
    '[tool."tfpin"]\ntest = ["tests"]\n',
], ids=["table", "spaced", "inline", "dotted", "quoted"])
def test_tool_tfpin_is_found_in_any_spelling_toml_allows(tmp_path, spelling):
    path = make(tmp_path, spelling + '[project]\nname = "x"\n', name="pyproject.toml")
    project = projects.load(tmp_path / "tests")  # looked up from below, as from a shell in the tests directory
    assert project.source == path and project.test == ["tests"]


def test_env_pythonpath_goes_in_front_of_tfpins_own(tmp_path):
    from tfpin.cell.incell import cell_environ
    from tfpin.config.context import Context
    from tfpin.config.layout import Layout

    (tmp_path / "src").mkdir()
    make(tmp_path, 'test = ["tests"]\n[env]\nPYTHONPATH = "src"\nAPP = "1"\n')
    project = projects.load(tmp_path)
    layout = Layout.of(project.root, None, None)
    cell = matrices.load("table", project).cells[-1]
    env = cell_environ(cell, Context(project, layout.reports, layout.envs, None, None))
    parts = env["PYTHONPATH"].split(os.pathsep)
    assert parts[:2] == [str(tmp_path / "src"), str(tmp_path)] and parts[2].endswith("cellplugin")
    assert env["APP"] == "1"

