"""tox.ini as a pure function of matrices/, so tox and nox can never disagree.

tox spells cells with factors (py36-tf112-keras224); the deps and pins each cell gets
are exactly the ones the nox harness installs, expressed as factor conditions.
"""
from __future__ import annotations

HEADER = """\
# Generated from matrices/ by `python -m tfpin tox-ini`; do not edit by hand
# (tests/harness/test_toxini.py fails when this file and matrices/ disagree).
# Run one cell: tox -e py37-tf115-keras225    the user's table: tox -m table    all: tox -m full
"""


def render(full, table, test, install=()) -> str:
    """tox.ini for every cell of `full`, labelled by `table`; `test`: the project's pytest arguments (its `test`);
    `install`: the project's install lines, deps of every cell as tfpin installs them (markers and all)."""
    cells = full.cells
    envs = [c.tox_env() for c in cells]
    lines = [HEADER, "[tox]", "env_list ="]
    lines += ["    " + c.tox_env() for c in table.cells]
    lines += ["labels =",
              "    table = " + ", ".join(c.tox_env() for c in table.cells),
              "    full = " + ", ".join(envs),
              "skip_missing_interpreters = false",
              "",
              "[testenv]",
              "skip_install = true",
              "# virtualenv >= 20.22 cannot create Python 3.6 environments (and >= 20.27 seeds a pip",
              "# that cannot run on 3.7); tox bootstraps this one for the cells.",
              "virtualenv_spec = virtualenv<20.22",
              "setenv =",
              "    PYTHONPATH = {toxinidir}",
              "    PYTHONDONTWRITEBYTECODE = 1"]
    lines += ["    %s: TFPIN_CELL = %s" % (c.tox_env(), c.env_token()) for c in cells]
    lines.append("deps =")
    lines += _conditional(cells, lambda c: c.requirement_lines())
    lines += ["    " + line for line in install]
    lines += _conditional(cells, lambda c: c.constraint_lines())
    lines += ["commands =",
              "    python -m pytest -p no:cacheprovider -q -rs "
              "--junitxml {toxworkdir}/junit/{envname}.xml {posargs:%s}" % " ".join(test),
              ""]
    return "\n".join(lines)


def _conditional(cells, lines_of) -> list[str]:
    """One line per distinct dep; conditioned on the factor that explains it, else on env names."""
    order: list = []
    owners: dict = {}
    for c in cells:
        for dep in lines_of(c):
            if dep not in owners:
                order.append(dep)
                owners[dep] = []
            owners[dep].append(c)
    out = []
    for dep in order:
        who = owners[dep]
        if len(who) == len(cells):
            out.append("    " + dep)
            continue
        factor = _single_factor(cells, who)
        condition = factor or ",".join(c.tox_env() for c in who)
        out.append("    %s: %s" % (condition, dep))
    return out


def _single_factor(cells, who):
    """A factor (or OR of factors at one position) selecting exactly `who`, if one exists."""
    ids = {c.tox_env() for c in who}
    width = len(cells[0].tox_env().split("-"))
    for pos in range(width):
        factors = sorted({c.tox_env().split("-")[pos] for c in who})
        chosen = {c.tox_env() for c in cells if c.tox_env().split("-")[pos] in factors}
        if chosen == ids:
            return ",".join(factors)
    return None


OWN_SECTIONS = ("tox", "testenv")  # and testenv:NAME: what render() writes; every other section is the user's


def generated_by_tfpin(text: str) -> bool:
    return text.startswith(HEADER.splitlines()[0])


def merged(existing: str | None, generated: str) -> str:
    """`generated` followed by every section of `existing` that is not tox's own ([pytest], [flake8], ...), verbatim,
    so regenerating never loses a user's other configuration."""
    if not existing:
        return generated
    kept: list[list[str]] = []
    block: list[str] | None = None
    for line in existing.splitlines(keepends=True):
        stripped = line.strip()
        if line.startswith("[") and stripped.endswith("]"):
            name = stripped[1:-1].strip()
            block = [] if name not in OWN_SECTIONS and not name.startswith("testenv:") else None
            if block is not None:
                kept.append(block)
        if block is not None:
            block.append(line)
    extra = "".join("".join(b) for b in kept).rstrip("\n")
    return generated + ("\n" + extra + "\n" if extra else "")

