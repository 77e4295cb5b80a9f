"""`tfpin init`'s static guess at a project's tests, used only when no cell could be built to ask pytest.

It reads files instead of running pytest, so it is a guess and init says so. It knows pytest's defaults
(python_files, the `test` prefix, `Test` classes, norecursedirs), the ini options that change them, and
unittest: pytest collects every `unittest.TestCase` subclass of a test module, whatever it is called,
which is the shape of most TF1 suites (`class ModelTest(tf.test.TestCase)` in `model_test.py`).
"""
from __future__ import annotations

import ast
import configparser
import fnmatch
from pathlib import Path

from tfpin.config.tomlfile import tomllib

TEST_DIRS = ("tests", "test", "testing")
PYTHON_FILES = ("test_*.py", "*_test.py")
NORECURSE = ("*.egg", ".*", "_darcs", "build", "CVS", "dist", "node_modules", "venv", "{arch}", "site-packages",
             "reports")


def pytest_config(root: Path) -> tuple[dict, str]:
    """The project's pytest ini options and where they came from, in pytest's own order: pytest.ini (always),
    pyproject.toml [tool.pytest.ini_options], tox.ini [pytest], setup.cfg [tool:pytest]."""
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
        except (configparser.Error, UnicodeDecodeError):  # a Latin-1 setup.cfg: pytest would not read it either
            continue
        if parser.has_section(section):
            return {k: v.split() for k, v in parser.items(section)}, name
        if name.endswith("pytest.ini"):
            return {}, name
    return {}, ""


def defines_tests(path: Path, functions=("test",), classes=("Test",)) -> bool:
    """A module that looks like it holds tests: a top-level test function, a Test class with one, or a class
    deriving from something named *TestCase (unittest's, tf.test's, absltest's, parameterized's)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError):
        return True  # pytest would report its collection error: it is a test module that is broken
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(functions):
            return True
        if not isinstance(node, ast.ClassDef):
            continue
        if any(_base_name(base).endswith("TestCase") for base in node.bases):
            return True
        if node.name.startswith(classes) and any(
                isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith(functions)
                for n in node.body):
            return True
    return False


def _base_name(node) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def guess_tests(root: Path) -> tuple[list[str], list[str]]:
    """(pytest arguments, notes): the directories holding modules that look like tests, a placeholder if none."""
    options, source = pytest_config(root)
    if options.get("testpaths"):
        paths = [p for p in options["testpaths"] if (root / p).exists()]
        if paths:
            return paths, ["test = %s: the testpaths of %s" % (paths, source)]
    patterns = tuple(options.get("python_files") or PYTHON_FILES)
    norecurse = tuple(options.get("norecursedirs") or NORECURSE) + (".tfpin", "site-packages")
    functions = tuple(options.get("python_functions") or ("test",))
    classes = tuple(options.get("python_classes") or ("Test",))
    found: list[Path] = []
    helpers: list[Path] = []
    for path in _walk(root, norecurse):
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns):
            (found if defines_tests(path, functions, classes) else helpers).append(path.relative_to(root))
    if not found:
        placeholder = next((d for d in TEST_DIRS if (root / d).is_dir()), "tests")
        return [placeholder], ["no test modules found (python_files: %s): `%s` is a placeholder, point `test` at "
                               "your suite" % (" ".join(patterns), placeholder)]
    tops = sorted({p.parts[0] for p in found})  # a directory, or a test module at the root
    notes = ["test = %s: %d modules that look like tests (python_files %s%s): %s" % (
        tops, len(found), " ".join(patterns), " from " + source if source else "",
        ", ".join(str(p) for p in sorted(found)[:8]) + (" ..." if len(found) > 8 else ""))]
    if helpers:
        notes.append("not tests (they match python_files but define no test): %s" % ", ".join(
            str(p) for p in sorted(helpers)))
    return tops, notes


def _walk(root: Path, norecurse):
    for path in sorted(root.iterdir()):
        if path.is_dir() and not path.is_symlink():
            if not any(fnmatch.fnmatch(path.name, pattern) for pattern in norecurse):
                yield from _walk(path, norecurse)
        elif path.suffix == ".py":
            yield path
