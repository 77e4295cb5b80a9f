"""`tfpin init`: a starter tfpin.toml from what the project already has, without asking anything."""
from __future__ import annotations

from pathlib import Path

TEST_DIRS = ("tests", "test", "testing")
IGNORED = (".tfpin/", "reports/")
# pytest's own defaults (python_files, python_functions, python_classes, norecursedirs).
PYTHON_FILES = ("test_*.py", "*_test.py")
NORECURSE = ("*.egg", ".*", "_darcs", "build", "CVS", "dist", "node_modules", "venv", "{arch}", "site-packages",
             "reports")


def pytest_config(root: Path) -> tuple[dict, str]:
    """The project's pytest ini options and where they came from, in pytest's own order: pytest.ini (always),
    pyproject.toml [tool.pytest.ini_options], tox.ini [pytest], setup.cfg [tool:pytest]."""
    import configparser

    from .project import tomllib

    for name, section in (("pytest.ini", "pytest"), (".pytest.ini", "pytest"), ("pyproject.toml", None),
                          ("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        path = root / name
        if not path.is_file():
            continue
        if section is None:
            try:
                options = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("pytest", {})
            except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                continue
            if "ini_options" in options:
                ini = options["ini_options"]
                return {k: v if isinstance(v, list) else str(v).split() for k, v in ini.items()}, name
            continue
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error:
            continue
        if parser.has_section(section):
            return {k: v.split() for k, v in parser.items(section)}, name
        if name.endswith("pytest.ini"):
            return {}, name
    return {}, ""


def defines_tests(path: Path, functions=("test",), classes=("Test",)) -> bool:
    """A module pytest would collect something from: a top-level test function, or a Test class with one."""
    import ast

    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError):
        return True  # pytest would report its collection error: it is a test module that is broken
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(functions):
            return True
        if isinstance(node, ast.ClassDef) and node.name.startswith(classes) and any(
                isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith(functions)
                for n in node.body):
            return True
    return False


def find_tests(root: Path) -> tuple[list[str], list[str]]:
    """(pytest arguments that collect what pytest itself collects from the root, notes on what was found/left out)."""
    import fnmatch

    options, source = pytest_config(root)
    if options.get("testpaths"):
        paths = [p for p in options["testpaths"] if (root / p).exists()]
        if paths:
            return paths, ["test = %s: the testpaths of %s" % (paths, source)]
    patterns = tuple(options.get("python_files") or PYTHON_FILES)
    norecurse = tuple(options.get("norecursedirs") or NORECURSE) + (".tfpin", "site-packages")
    functions = tuple(options.get("python_functions") or ("test",))
    classes = tuple(options.get("python_classes") or ("Test",))
    found, helpers = [], []
    for path in _walk(root, norecurse):
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns):
            (found if defines_tests(path, functions, classes) else helpers).append(path.relative_to(root))
    notes = []
    if not found:
        placeholder = next((d for d in TEST_DIRS if (root / d).is_dir()), "tests")
        return [placeholder], ["no test modules found (pytest's python_files: %s): `%s` is a placeholder, point "
                               "`test` at your suite" % (" ".join(patterns), placeholder)]
    tops = sorted({p.parts[0] for p in found})  # a directory, or a test module at the root
    notes.append("test = %s: %d test modules pytest collects (python_files %s%s): %s" % (
        tops, len(found), " ".join(patterns), " from " + source if source else "",
        ", ".join(str(p) for p in sorted(found)[:8]) + (" ..." if len(found) > 8 else "")))
    if helpers:
        notes.append("not tests (they match python_files but define no test): %s" % ", ".join(
            str(p) for p in sorted(helpers)))
    return tops, notes


def _walk(root: Path, norecurse):
    import fnmatch

    for path in sorted(root.iterdir()):
        if path.is_dir() and not path.is_symlink():
            if not any(fnmatch.fnmatch(path.name, pattern) for pattern in norecurse):
                yield from _walk(path, norecurse)
        elif path.suffix == ".py":
            yield path


def starter(root: Path) -> tuple[str, list[str]]:
    test, notes = find_tests(root)
    lines = [
        "# tfpin: which TensorFlow 1.x / Keras / Python set does this project pass on?",
        "# `tfpin matrix` runs the tests below in every cell of the matrix and recommends a pin.",
        'matrix = "table"  # built-in: table (TF 1.12-1.15 with their Keras, Python 3.6/3.7) or full; or a path',
        "test = [%s]  # pytest arguments, run from this directory" % ", ".join('"%s"' % t for t in test),
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
