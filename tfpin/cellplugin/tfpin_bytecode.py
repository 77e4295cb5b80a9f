"""Bytecode for the cell env's own modules, written the first time each is imported (loaded by a .pth file
in the env's site-packages, so in every process of the cell, the suite's fresh processes included).

Cells run with PYTHONDONTWRITEBYTECODE=1 so that nothing is written into the user's tree; without bytecode
in the env, every fresh process compiled TensorFlow again (`import tensorflow, keras` 3.2 s instead of
1.2 s). Compiling all of site-packages up front cost a new env 8 s of two cores (5,300 modules, most of
which no test imports). Here a module under the env's prefix that has no bytecode yet is compiled once by
py_compile when it is first imported, and loaded from it; the user's tree is never written.

Safe with processes importing at the same time: py_compile writes through importlib's _write_atomic (a
temporary file, then os.replace), so a reader sees no bytecode or complete bytecode, and the loader
checks it against the source's mtime and size before using it. A write that fails (a clashing
temporary name, a read-only env, a module that does not compile) leaves the import to compile from
source, as it would have anyway. Python 3.6 and later.
"""
import os
import py_compile
import sys
from importlib import machinery, util

_PREFIX = os.path.join(os.path.realpath(sys.prefix), "")
_original = machinery.SourceFileLoader.get_code


def _get_code(self, fullname):
    path = self.path
    if sys.dont_write_bytecode and path.endswith(".py") and os.path.realpath(path).startswith(_PREFIX):
        try:
            cached = util.cache_from_source(path)
            if not os.path.exists(cached):
                py_compile.compile(path, cfile=cached, doraise=True)
        except Exception:  # noqa: BLE001 - any failure: import from source, as without this file
            pass
    return _original(self, fullname)


machinery.SourceFileLoader.get_code = _get_code
