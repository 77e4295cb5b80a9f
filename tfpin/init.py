"""`tfpin init`: a starter tfpin.toml from what the project already has, without asking anything."""
from __future__ import annotations

from pathlib import Path

TEST_DIRS = ("tests", "test", "testing")
IGNORED = (".tfpin/", "reports/")


def find_tests(root: Path) -> tuple[str, str]:
    """(pytest argument, how it was found)."""
    for name in TEST_DIRS:
        if (root / name).is_dir():
            return name, "found the %s/ directory" % name
    files = sorted(p for p in root.rglob("test_*.py") if ".tfpin" not in p.parts and "site-packages" not in str(p))
    if files:
        parent = files[0].parent.relative_to(root)
        return (str(parent) if str(parent) != "." else files[0].name), "found %s" % files[0].relative_to(root)
    return "tests", "no tests found: `tests` is a placeholder, point `test` at your suite"


def starter(root: Path) -> tuple[str, list[str]]:
    test, how = find_tests(root)
    notes = ["test = [%r]: %s" % (test, how)]
    lines = [
        "# tfpin: which TensorFlow 1.x / Keras / Python set does this project pass on?",
        "# `tfpin matrix` runs the tests below in every cell of the matrix and recommends a pin.",
        'matrix = "table"  # built-in: table (TF 1.12-1.15 with their Keras, Python 3.6/3.7) or full; or a path',
        "test = [%s]  # pytest arguments, run from this directory" % ('"%s"' % test),
    ]
    packaged = (root / "setup.py").is_file() or (root / "setup.cfg").is_file() or _has_project_table(root)
    if packaged:
        lines.append('install = ["."]  # installs this project into every cell (with the cell\'s pins applied)')
        notes.append('install = ["."]: the project is packaged (setup.py / pyproject [project])')
    else:
        lines.append('# install = ["-r requirements-test.txt"]  # extra requirements for every cell')
    if (root / "requirements.txt").is_file():
        lines.append("# Not `-r requirements.txt`: a tensorflow/keras pin there would fight every cell's own pin;")
        lines.append("# list only what else your tests need, e.g. install = [\"pyyaml<6\", \"pillow\"].")
        notes.append("requirements.txt left out on purpose (its TF/Keras pins would override the cells')")
    lines += [
        "# timeout = 900  # seconds one test may run before it counts as hung",
        "# [env]  # variables your tests need",
        "# MY_SETTING = \"1\"",
        "",
    ]
    return "\n".join(lines), notes


def _has_project_table(root: Path) -> bool:
    path = root / "pyproject.toml"
    return path.is_file() and "\n[project]" in "\n" + path.read_text(encoding="utf-8")


def ignore_outputs(root: Path) -> list[str]:
    """Add tfpin's outputs to an existing .gitignore; say what was done."""
    path = root / ".gitignore"
    if not path.is_file():
        return ["no .gitignore here: keep .tfpin/ (cell environments) and reports/ out of version control"]
    text = path.read_text(encoding="utf-8")
    present = {line.strip() for line in text.splitlines()}
    missing = [entry for entry in IGNORED if entry not in present and entry.rstrip("/") not in present]
    if not missing:
        return []
    path.write_text(text + ("" if text.endswith("\n") or not text else "\n") + "\n".join(missing) + "\n")
    return ["added %s to .gitignore" % ", ".join(missing)]
