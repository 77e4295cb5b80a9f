"""--coverage on real runs of a TF-free project whose package takes one path under six 1.15 and another under six
1.16: two cells (Python 3.6 with six 1.15.0, Python 3.7 with six 1.16.0), the package installed from a src layout
(so each cell imports it from its own site-packages), a function only a subprocess of the suite runs, and one no
test calls. The combined report must say which lines ran where, in matrix.json, matrix.md and (in real headless
Chromium) matrix.html; a run with --coverage and one without are never each other's cached verdict."""
import json
import re
import sqlite3
import textwrap

import pytest
from faultkit import PYTHONS, ROOT, harness_env, pyproject, report, tfpin
from test_html import CHROMIUM, chromium

OLD, NEW = "py3.6-six1.15.0", "py3.7-six1.16.0"
MATRIX = """
description = "six on both sides of 1.16"

[[cells]]
python = ["3.6"]
six = "1.15.0"

[[cells]]
python = ["3.7"]
six = "1.16.0"

[packages.six]
label = "six"
id_parts = 3
""" + PYTHONS
PACKAGE = '''\
import six

# one statement over several lines: 3.6 and 3.7 trace it on another line than the host's Python would
RELEASES = {
    "old": (1, 15),
    "new": (1, 16),
}


def six_version():
    return tuple(int(part) for part in six.__version__.split(".")[:2])


def which_path():
    if six_version() >= (1, 16):
        found = "new"
        return found
    else:
        found = "old"
        return found


def from_a_subprocess():
    return "measured there too"


def never_called():
    nobody = "calls this"
    return nobody
'''
SUITE = '''\
import os
import subprocess
import sys

import six
import verpkg


def test_which_path():
    assert verpkg.which_path() == ("new" if six.__version__ >= "1.16" else "old")


def test_a_fresh_python_process():
    # its own PYTHONPATH, as suites do: coverage starts there all the same
    out = subprocess.run([sys.executable, "-c", "import verpkg; print(verpkg.from_a_subprocess())"],
                         env=dict(os.environ, PYTHONPATH=""), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True)
    assert out.returncode == 0 and out.stdout.strip() == "measured there too", out.stderr
    assert out.stderr == "", out.stderr  # coverage stays quiet in a process of the suite
'''
FILES = {
    "faults.toml": MATRIX,
    "pyproject.toml": pyproject("verpkg", src=True),
    "src/verpkg/__init__.py": PACKAGE,
    "tests/test_paths.py": SUITE,
    "tfpin.toml": 'matrix = "faults.toml"\ntest = ["tests"]\ninstall = ["."]\nsources = ["src/verpkg", "tests"]\n',
}
FILE = "src/verpkg/__init__.py"


def line_of(text):
    return next(n for n, line in enumerate(PACKAGE.splitlines(), 1) if line.strip() == text)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The project, its env directory, and the output of its first --coverage run."""
    root = tmp_path_factory.mktemp("coverage")
    project, envs = root / "p", root / "envs"
    for name, text in FILES.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text) if name != "src/verpkg/__init__.py" else text)
    out = tfpin(project, "matrix", "--coverage", envs=envs, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    return project, envs, report(project)


def test_each_path_is_listed_with_the_cells_that_ran_it(runs):
    project, _, rep = runs
    cov = rep["coverage"]
    assert cov["cells"] == [OLD, NEW] and cov["packages"] == ["verpkg"]
    assert cov["tools"] == {OLD: "coverage 6.2", NEW: "coverage 7.2.7"}  # resolved per Python from one range
    (f,) = [f for f in cov["files"] if f["path"] == FILE]
    assert [e["path"] for e in cov["files"]] == [FILE]  # the tests are not the project's lines
    new, old = line_of('found = "new"'), line_of('found = "old"')  # each with the `return found` after it
    assert f["some"] == [{"lines": "%d-%d" % (new, new + 1), "cells": [NEW]},
                         {"lines": "%d-%d" % (old, old + 1), "cells": [OLD]}]
    assert f["none"] == ["%d-%d" % (line_of('nobody = "calls this"'), line_of("return nobody"))]
    heat = {line: [cov["cells"][i] for i in which] for line, which in f["heat"]}
    for common in ("import six", "RELEASES = {", "def which_path():", "if six_version() >= (1, 16):",
                   'return "measured there too"'):  # the last: only a fresh Python process of the suite runs it
        assert heat[line_of(common)] == [OLD, NEW], common
    assert f["statements"] == f["everywhere"] + f["some_count"] + f["none_count"] and f["some_count"] == 4
    # each cell's data is its evidence, under the project's file names, whatever site-packages it ran from
    for cell_id in (OLD, NEW):
        kept = project / "reports" / "coverage" / (cell_id + ".coverage")
        with sqlite3.connect(str(kept)) as db:
            assert [r[0] for r in db.execute("select path from file")] == [FILE]
        cell = json.loads((project / "reports" / "cells" / (cell_id + ".json")).read_text())
        assert cell["coverage"]["data"] == "reports/coverage/%s.coverage" % cell_id
        assert cell["coverage"]["processes"] >= 2  # pytest and the subprocess at least


def test_the_markdown_has_a_table_per_file(runs):
    project, _, _ = runs
    md = (project / "reports" / "matrix-faults.md").read_text()
    assert "## Coverage across cells (--coverage)" in md
    assert re.search(r"\| `%s` \| \d+ \| \d+ \| 4 \| 2 \|" % re.escape(FILE), md)
    section = md.split("### `%s`" % FILE)[1]
    old = line_of('found = "old"')
    assert "| %d-%d | only `%s` |" % (old, old + 1, OLD) in section
    assert "| %d-%d | no cell |" % (line_of('nobody = "calls this"'), line_of("return nobody")) in section


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian package 'chromium')")
def test_the_html_heat_map_in_a_real_browser(runs, tmp_path):
    project, _, _ = runs
    page = project / "reports" / "matrix-faults.html"
    run = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    rows = re.findall(r'<tr data-cells="(\d)" title="([^"]*)" style="background:([^"]*)"><td class="ln">(\d+)</td>'
                      r'<td class="src">([^<]*)</td>', dom)
    by_line = {int(n): (int(k), title, colour, src) for k, title, colour, n, src in rows}
    old, new, dead = line_of('found = "old"'), line_of('found = "new"'), line_of('nobody = "calls this"')
    assert by_line[old][:2] == (1, "run in 1 of 2 cells: %s" % OLD) and "old" in by_line[old][3]
    assert by_line[new][:2] == (1, "run in 1 of 2 cells: %s" % NEW)
    assert by_line[dead][:2] == (0, "run in no cell")
    assert by_line[line_of("import six")][:2] == (2, "run in every cell (2)")
    assert len({by_line[n][2] for n in (old, dead, line_of("import six"))}) == 3  # three colours
    shot = tmp_path / "shot.png"
    run = chromium(tmp_path, "--screenshot=%s" % shot, "--window-size=390,844", page.as_uri())
    assert run.returncode == 0 and shot.stat().st_size > 1000


def test_a_run_without_coverage_never_takes_a_coverage_verdict_nor_the_reverse(runs):
    project, envs, _ = runs
    plain = tfpin(project, "matrix", envs=envs)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    rep = report(project)
    assert "coverage" not in rep and not any(c.get("cached_from") for c in rep["cells"]), plain.stdout
    assert not any("coverage" in c for c in rep["cells"])
    assert "Coverage" not in (project / "reports" / "matrix-faults.md").read_text()
    measured = tfpin(project, "matrix", "--coverage", envs=envs)
    assert measured.returncode == 0, measured.stdout + measured.stderr
    rep = report(project)
    assert not any(c.get("cached_from") for c in rep["cells"]), measured.stdout
    assert rep["coverage"]["cells"] == [OLD, NEW]
    again = tfpin(project, "matrix", "--coverage", envs=envs)  # same inputs: re-used, its coverage with it
    assert again.returncode == 0, again.stdout + again.stderr
    rep = report(project)
    assert all(c.get("cached_from") for c in rep["cells"]), again.stdout
    (f,) = rep["coverage"]["files"]
    assert f["some_count"] == 4 and f["none_count"] == 2


def test_without_coverage_on_the_host_it_is_refused_before_anything_runs(tmp_path):
    """The host reads every cell's data with coverage.py 7: without it, exit 2 and what to install, no traceback."""
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "coverage.py").write_text("raise ImportError('no coverage.py in this environment')\n")
    project = tmp_path / "p"
    for name, text in FILES.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    out = tfpin(project, "matrix", "--coverage", envs=tmp_path / "envs",
                env=harness_env(PYTHONPATH="%s:%s" % (blocked, ROOT)))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "--coverage" in out.stderr and "pip install 'coverage>=7'" in out.stderr and "Traceback" not in out.stderr
    assert not (project / "reports").exists() and not (tmp_path / "envs").exists()
