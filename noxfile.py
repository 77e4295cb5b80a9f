"""nox front end of tfpin. Matrices live in matrices/*.toml; the work is done by `python -m tfpin`.

Sessions:
  matrix     every cell of a matrix (default: the user's table), reports + recommended pin;
             tfpin options after --, pytest args after a second -- (nox -s matrix -- --cells ID -- -k x)
  cell(ID)   one cell, pytest args after --: nox -s "cell(py3.7-tf1.15-keras2.2.5)" -- -k batchnorm
  bench      training throughput in every cell, merged into the matrix report
  gpu        the table on tensorflow-gpu (matrices/gpu.toml): needs an NVIDIA GPU with CUDA/cuDNN
  tests      the project's own tests: harness self-tests + cell suite in the newest cell
  corpus     real TF1-era projects from the index: tfpin init && tfpin matrix with zero edits against the
             truth measured by hand (tests/corpus/run.py; --projects a,b); too slow for `tests`
  lint       ruff over the repository, mypy over tfpin/
  docs       the reference under docs/ built with MkDocs, warnings as errors
  tox_ini    regenerate tox.ini from matrices/
"""
import sys

import nox

sys.path.insert(0, ".")
from tfpin.config import matrix as matrices  # noqa: E402

nox.options.sessions = ["matrix"]
nox.options.default_venv_backend = "none"  # tfpin builds the cell envs itself (uv, else venv)
nox.options.download_python = "never"

TFPIN = (sys.executable, "-m", "tfpin")
# nox sends SIGTERM 0.3 s after Ctrl-C and SIGKILL soon after; tfpin then still kills its cells' processes
# and writes the last report, so nox waits for it (tfpin exits 130/143 on its own within seconds).
WAIT = {"external": True, "interrupt_timeout": None}


def _cell_params():
    table = {c.id for c in matrices.load("table").cells}
    for cell in matrices.load("full").cells:
        tags = ["cell", *cell.id.split("-")]
        if cell.id in table:
            tags.append("table")
        yield nox.param(cell.id, id=cell.id, tags=tags)


@nox.session(python=False)
def matrix(session):
    """Run every cell of a matrix (-- --matrix full, -- --cells ID,ID); write reports/matrix.{json,md}."""
    session.run(*TFPIN, "matrix", *session.posargs, **WAIT)


@nox.session(python=False, default=False)
@nox.parametrize("cell_id", list(_cell_params()))
def cell(session, cell_id):
    """One matrix cell, alone (extra pytest args after --)."""
    session.run(*TFPIN, "cell", cell_id, "--", *session.posargs, **WAIT)


@nox.session(python=False, default=False)
def bench(session):
    """Training throughput (images/sec) in every cell; figures join the bench column (tfpin/cell/bench.py)."""
    session.run(*TFPIN, "bench", *session.posargs, **WAIT)


@nox.session(python=False, default=False)
def gpu(session):
    """The table on tensorflow-gpu; runs the @pytest.mark.gpu tests. Without CUDA every cell fails naming
    the library TensorFlow could not load (never a pass)."""
    session.run(*TFPIN, "matrix", "--matrix", "gpu", *session.posargs, **WAIT)


@nox.session(python=False, default=False)
def tests(session):
    """The project's own tests: harness self-tests (host, no TF), then the cell suite in the newest cell."""
    session.run(sys.executable, "-m", "pytest", "tests/harness", "-q", "-p", "no:cacheprovider", **WAIT)
    newest = matrices.load("table").cells[-1]
    session.run(*TFPIN, "cell", newest.id, "--", *session.posargs, **WAIT)


@nox.session(python=False, default=False)
def corpus(session):
    """Real projects nobody here wrote, zero edits: tfpin's verdict per cell against the truth by hand."""
    session.run(sys.executable, "tests/corpus/run.py", *session.posargs, **WAIT)


@nox.session(python=False, default=False)
def lint(session):
    """ruff over the whole repository; mypy over the harness (its strictness: pyproject.toml [tool.mypy])."""
    session.run(sys.executable, "-m", "ruff", "check", ".", **WAIT)
    session.run(sys.executable, "-m", "mypy", **WAIT)


@nox.session(python=False, default=False)
def tox_ini(session):
    """Regenerate tox.ini from matrices/ (a harness test fails while they disagree)."""
    session.run(*TFPIN, "tox-ini", **WAIT)


@nox.session(python=False, default=False)
def docs(session):
    """The reference (docs/, mkdocs.yml) as a site in .tfpin/site; a broken link or anchor fails (--strict)."""
    session.run(sys.executable, "-m", "mkdocs", "build", "--strict", *session.posargs)
