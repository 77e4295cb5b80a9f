"""Version knowledge lives only in compat/: resnet_core/ and tests/cell/ must not branch on versions.

A version branch elsewhere (hasattr probing, version compares, ImportError fallbacks) would
make the code under test differ per cell, which defeats comparing cells.  Strings and
comments are ignored, so documentation may still name these patterns.
"""
import io
import re
import tokenize

import pytest
from conftest import ROOT

SCANNED = ("resnet_core", "tests/cell")
FORBIDDEN = {
    "__version__": r"__version__",
    "hasattr probing of tf/keras": r"\bhasattr\(\s*(tf1?|keras|K)\b",
    "getattr with a default on tf/keras": r"\bgetattr\(\s*(tf1?|keras|K)\b[^()]*,[^()]*,",
    "LooseVersion": r"\bLooseVersion\b",
    "parse_version / packaging.version": r"\bparse_version\b|\bpackaging\.version\b|\bversion\.parse\(",
    "sys.version_info": r"\bversion_info\b",
    "TF_VERSION comparison": r"\bTF_VERSION\b\s*(\[|[<>=!]=?)|([<>=!]=?|\bin)\s*\bTF_VERSION\b",
    "ImportError fallback": r"\bexcept\b[^:]*\b(ImportError|ModuleNotFoundError)\b",
}
_PATTERNS = {label: re.compile(rx) for label, rx in FORBIDDEN.items()}
_SKIPPED_TOKENS = {tokenize.COMMENT, tokenize.STRING} | {
    getattr(tokenize, n) for n in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END") if hasattr(tokenize, n)
}


def code_only(source):
    """Source with comments and string literals blanked (line numbers kept)."""
    lines = source.splitlines(True)
    out = [list(line) for line in lines]
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in _SKIPPED_TOKENS:
            continue
        (r0, c0), (r1, c1) = tok.start, tok.end
        for r in range(r0, r1 + 1):
            row = out[r - 1]
            start = c0 if r == r0 else 0
            end = c1 if r == r1 else len(row)
            for c in range(start, min(end, len(row))):
                if row[c] != "\n":
                    row[c] = " "
    return ["".join(row) for row in out]


def violations(source, path="<source>"):
    found = []
    for lineno, line in enumerate(code_only(source), 1):
        for label, rx in _PATTERNS.items():
            if rx.search(line):
                found.append("%s:%d: %s: %s" % (path, lineno, label, source.splitlines()[lineno - 1].strip()))
    return found


def scanned_files():
    files = []
    for top in SCANNED:
        files += sorted((ROOT / top).rglob("*.py"))
    return files


def test_no_version_logic_outside_compat():
    files = scanned_files()
    assert any(f.parent.name == "resnet_core" for f in files), "scan found no resnet_core sources"
    found = []
    for f in files:
        found += violations(f.read_text(encoding="utf-8"), f.relative_to(ROOT).as_posix())
    assert not found, (
        "version logic outside compat/ (move it into compat/table.py and call the shim):\n  " + "\n  ".join(found)
    )


@pytest.mark.parametrize(
    "label, snippet",
    [
        ("__version__", "ok = tf.__version__.startswith('1.15')\n"),
        ("hasattr probing of tf/keras", "if hasattr(tf, 'compat'):\n    pass\n"),
        ("hasattr probing of tf/keras", "x = hasattr(keras.layers, 'Layer')\n"),
        ("getattr with a default on tf/keras", "v1 = getattr(tf, 'compat', None)\n"),
        ("LooseVersion", "from distutils.version import LooseVersion\n"),
        ("parse_version / packaging.version", "from pkg_resources import parse_version\n"),
        ("parse_version / packaging.version", "import packaging.version\n"),
        ("sys.version_info", "if sys.version_info >= (3, 7):\n    pass\n"),
        ("TF_VERSION comparison", "if TF_VERSION >= (1, 14):\n    pass\n"),
        ("TF_VERSION comparison", "if (1, 13) == TF_VERSION:\n    pass\n"),
        ("TF_VERSION comparison", "minor = TF_VERSION[1]\n"),
        ("ImportError fallback", "try:\n    import keras\nexcept ImportError:\n    keras = None\n"),
        ("ImportError fallback", "try:\n    import a\nexcept (ValueError, ModuleNotFoundError):\n    pass\n"),
    ],
)
def test_detector_catches(label, snippet):
    """The scan is only worth something if each pattern is really detected."""
    assert any(": %s: " % label in v for v in violations(snippet))


@pytest.mark.parametrize(
    "snippet",
    [
        "# we never call hasattr(tf, 'compat') here\n",
        "'''Docs may say except ImportError and tf.__version__.'''\n",
        "msg = 'TF_VERSION >= (1, 14) lives in compat'\n",
        "from compat import tf1, TF_VERSION\n",
        "value = getattr(tf1.nn, name)\n",
    ],
)
def test_detector_ignores_docs_and_plain_use(snippet):
    assert violations(snippet) == []
