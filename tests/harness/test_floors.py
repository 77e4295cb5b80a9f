"""--floors on a real TF-free project from the package index: its install line says `packaging>=16.0`, but its
suite uses `Version.major`, which packaging added in 20.0 (its changelog). The report must say the floor breaks at
16.0, with the error, and that 20.0 is the lowest release that passes; a true floor holds; without --floors nothing
changes."""
import textwrap

import pytest
from faultkit import make_project, pyproject, report, tfpin

SUITE = '''
from packaging.version import Version


def test_major_of_a_version():
    assert Version("1.2").major == 1
'''


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    return tmp_path_factory.mktemp("envs")


def project_with(tmp_path, line):
    project = make_project(tmp_path / "p", config_extra='install = ["%s"]' % line)
    (project / "tests" / "test_fixture.py").write_text(textwrap.dedent(SUITE))
    (project / "tests" / "conftest.py").write_text("")
    return project


def test_a_false_floor_is_named_with_the_lowest_release_that_passes(tmp_path, envs):
    project = project_with(tmp_path, "packaging>=16.0")
    out = tfpin(project, "matrix", "--floors", "--cells", "py3.7-six1.16.0", envs=envs, timeout=1200)
    assert out.returncode == 1, out.stdout + out.stderr
    (found,) = report(project, "matrix-faults-partial")["floors"]
    (line,) = found["lines"]
    assert line["line"] == "packaging>=16.0" and line["floor"] == "16.0" and not line["holds"]
    assert "AttributeError" in line["error"] and "major" in line["error"]
    assert line["lowest_passing"] == "20.0"
    assert "floor does not hold: py3.7-six1.16.0: packaging>=16.0" in out.stderr
    md = (project / "reports" / "matrix-faults-partial.md").read_text()
    section = md[md.index("## Floors of the install lines (--floors)"):]
    row = next(ln for ln in section.splitlines() if ln.startswith("| `packaging>=16.0` |"))
    assert "| breaks: AttributeError" in row and row.replace("\\", "").endswith("| 20.0 |"), row


def test_a_true_floor_holds_and_without_floors_nothing_changes(tmp_path, envs):
    project = project_with(tmp_path, "packaging>=20.0")
    out = tfpin(project, "matrix", "--floors", "--cells", "py3.7-six1.16.0", envs=envs, timeout=1200)
    assert out.returncode == 0, out.stdout + out.stderr
    (found,) = report(project, "matrix-faults-partial")["floors"]
    assert [(e["floor"], e["holds"]) for e in found["lines"]] == [("20.0", True)]
    plain = tfpin(project, "matrix", "--cells", "py3.7-six1.16.0", envs=envs)
    assert plain.returncode == 0 and "floors" not in report(project, "matrix-faults-partial")


PACKAGED = pyproject("floored", project_extra='dependencies = ["packaging>=16.0", "six"]\n'
                                               '[project.optional-dependencies]\ntests = ["iniconfig>=1.0"]\n',
                     extra='[tool.setuptools]\npy-modules = ["floored"]\n')


def test_a_packaged_projects_own_requirements_are_floors_too(tmp_path, envs):
    """`install = [".[tests]"]`: the ranges live in the project's metadata, as the build wrote it into the cell.
    packaging's false floor is found there and named with where it was declared; the extra's iniconfig>=1.0 is
    checked as well; the bare `six` declares no floor and is not checked."""
    project = project_with(tmp_path, ".[tests]")
    (project / "pyproject.toml").write_text(PACKAGED)
    (project / "floored.py").write_text("")
    out = tfpin(project, "matrix", "--floors", "--cells", "py3.7-six1.16.0", envs=envs, timeout=1200)
    assert out.returncode == 1, out.stdout + out.stderr
    (found,) = report(project, "matrix-faults-partial")["floors"]
    lines = {e["package"]: e for e in found["lines"]}
    assert set(lines) == {"packaging", "iniconfig"}, found
    packaging = lines["packaging"]
    assert packaging["from"] == "floored's requirements" and packaging["floor"] == "16.0" and not packaging["holds"]
    assert packaging["lowest_passing"] == "20.0" and "major" in packaging["error"]
    assert lines["iniconfig"]["floor"] == "1.0.0"  # its first release at or above 1.0
    md = (project / "reports" / "matrix-faults-partial.md").read_text()
    assert "| `packaging>=16.0` (floored's requirements) |" in md
