"""pytest plugin the harness loads into every cell run (`-p tfpin_loaded`); runs on Python 3.6+.

The verdict cache may re-use a cell's verdict only while nothing the run read has changed, and tfpin cannot
know from outside what that is: pytest chooses the rootdir and ini file, loads conftest.py files from the
root and from directories above it, and the suite imports the project's code from wherever it lives (the
root, a src layout, a gitignored tree, a parent of a monorepo folder). So the run itself says: at the end of
the session $TFPIN_LOADED holds the rootdir, the ini file, and every file it loaded as a module or a plugin
that is not part of the cell's environment or the interpreter's standard library, each with the digest of
its content when it was first seen (the ini file and each conftest as they load, modules after collection).
A file written after the session started is the run's own product, not an input (TF 1.14's autograph imports
the functions it converts from temporary files it writes): it is left out.
Under pytest-xdist each worker writes its own part and the controller, which finishes last, merges them.
Bookkeeping must never be what breaks a suite: any error here is swallowed.
"""
import hashlib
import os
import sys
import time

import tfpin_vars  # beside this file
from tfpin_records import own_path, worker_parts, write_json  # beside this file

HERE = os.path.dirname(os.path.realpath(__file__))  # tfpin's own in-cell plugins: part of the harness's key

START = time.time()
_files = {}  # {real path: sha256 of its content when first seen}
_config = {}


def _outside():
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.exec_prefix, getattr(sys, "base_prefix", sys.prefix),
                                              getattr(sys, "base_exec_prefix", sys.exec_prefix))}
    return tuple(p.rstrip(os.sep) + os.sep for p in prefixes | {HERE})


def _record(path):
    if not path:
        return
    try:
        real = os.path.realpath(str(path))
        if real in _files or real.startswith(_OUTSIDE) or not os.path.isfile(real) or os.stat(real).st_mtime > START:
            return
        with open(real, "rb") as f:
            _files[real] = hashlib.sha256(f.read()).hexdigest()
    except (OSError, ValueError, TypeError):
        pass


def _source(path):
    """A module's source rather than its bytecode, when both exist."""
    if path and path.endswith((".pyc", ".pyo")) and os.path.isfile(path[:-1]):
        return path[:-1]
    return path


def _sweep():
    for module in list(sys.modules.values()):
        _record(_source(getattr(module, "__file__", None)))


_OUTSIDE = _outside()


def pytest_configure(config):
    rootdir = getattr(config, "rootpath", None) or getattr(config, "rootdir", None)
    inifile = getattr(config, "inipath", None) or getattr(config, "inifile", None)
    _config["rootdir"] = os.path.realpath(str(rootdir)) if rootdir else None
    _config["inifile"] = os.path.realpath(str(inifile)) if inifile else None
    _record(_config["inifile"])


def pytest_plugin_registered(plugin, manager):
    """conftest.py files (and any plugin module the project loads), as pytest loads them."""
    _record(_source(getattr(plugin, "__file__", None)))


def pytest_collection_finish(session):
    root = _config.get("rootdir") or ""
    for item in session.items:
        _record(os.path.join(root, item.nodeid.split("::")[0]))
    _sweep()


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get(tfpin_vars.LOADED)
    if not path:
        return
    _sweep()

    def merge(part):
        for name, digest in part["files"].items():
            _files.setdefault(name, digest)

    worker_parts(path, merge)
    write_json(own_path(path), {"rootdir": _config.get("rootdir"), "inifile": _config.get("inifile"), "files": _files})
