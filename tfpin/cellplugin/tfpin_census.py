"""pytest plugin tfpin loads into every cell run (`-p tfpin_census`): the project's deprecation census, from the
run the cell does anyway (no extra process, no extra run).

While the suite runs it keeps every deprecation notice whose call site is the project's own code:
TensorFlow's ("From <file>:<line>: <name> (from <module>) is deprecated ... Instructions for updating:
...", logged once per call site and process on the `tensorflow` logger) and Python's DeprecationWarning /
PendingDeprecationWarning / FutureWarning, as pytest records them. A call site inside site-packages,
the interpreter or tfpin's own plugins is not the project's and is dropped. At the end it writes
$TFPIN_NOTICES: [{site, api, instructions, kind}], one entry per (site, api). Runs on Python 3.6+.
"""
import logging
import os
import re

import tfpin_vars  # beside this file
from tfpin_records import own_path, worker_parts, write_json  # beside this file

TF_NOTICE = re.compile(r"^From (?P<file>.+?):(?P<line>\d+): (?P<api>.+?) is deprecated(?P<rest>.*)$", re.S)
INSTRUCTIONS = re.compile(r"Instructions for updating:\s*(?P<text>.+)", re.S)
KINDS = ("DeprecationWarning", "PendingDeprecationWarning", "FutureWarning")
_notices = {}
_root = [os.path.realpath(os.getcwd())]
_outside = [os.path.realpath(os.path.dirname(os.path.abspath(__file__)))]


def _site(filename, lineno):
    """'pkg/mod.py:12' for a call site in the project, else None."""
    path = os.path.realpath(filename or "")
    root = _root[0] + os.sep
    if not path.startswith(root) or any(path.startswith(o + os.sep) for o in _outside):
        return None
    rel = path[len(root):]
    if "site-packages" in rel.split(os.sep) or "dist-packages" in rel.split(os.sep):
        return None  # an env inside the project directory
    return "%s:%s" % (rel.replace(os.sep, "/"), lineno)


def _keep(site, api, instructions, kind):
    key = (site, api)
    if key not in _notices:
        _notices[key] = {"site": site, "api": api[:300], "instructions": instructions[:300], "kind": kind}


def _tensorflow_notice(message):
    match = TF_NOTICE.match(message)
    if match is None:
        return
    site = _site(match.group("file"), match.group("line"))
    if site is None:
        return
    found = INSTRUCTIONS.search(match.group("rest"))
    text = found.group("text") if found else match.group("rest").lstrip(" .")  # "... Please use X instead."
    api = match.group("api").strip()
    _keep(site, api[len("The name "):] if api.startswith("The name ") else api, " ".join(text.split()), "tensorflow")


class _TensorFlowNotices(logging.Handler):
    def emit(self, record):
        try:
            _tensorflow_notice(record.getMessage())
        except Exception:  # noqa: BLE001 -- a message that does not format is no notice
            pass


def _listen(logger, name):
    """Also see what TensorFlow logs while a project has turned its logger down (tf.get_logger().setLevel(
    ERROR) is common in test suites): a level check happens before any handler, so wrap the call itself."""
    original = getattr(logger, name)

    def call(msg, *args, **kwargs):
        try:
            _tensorflow_notice(str(msg) % args if args else str(msg))
        except Exception:  # noqa: BLE001
            pass
        return original(msg, *args, **kwargs)

    setattr(logger, name, call)


def pytest_configure(config):
    # The project is the directory tfpin runs pytest from, not pytest's rootdir: a tests/pytest.ini makes tests/
    # the rootdir, and every call site in the project's own code would fall outside it.
    _root[0] = os.path.realpath(os.getcwd())
    logger = logging.getLogger("tensorflow")
    logger.addHandler(_TensorFlowNotices(level=logging.WARNING))
    for name in ("warning", "warn"):
        _listen(logger, name)


def pytest_warning_recorded(warning_message, when, nodeid, location):
    kind = type(warning_message.message).__name__ if isinstance(warning_message.message, Warning) \
        else getattr(warning_message.category, "__name__", "")
    if kind not in KINDS:
        return
    site = _site(warning_message.filename, warning_message.lineno)
    if site is not None:
        text = " ".join(str(warning_message.message).split())
        _keep(site, text, "", kind)


def pytest_sessionfinish(session, exitstatus):
    """Under pytest-xdist each worker keeps the notices of its own tests in a part of its own, and the controller
    merges them into $TFPIN_NOTICES (tfpin_records)."""
    path = os.environ.get(tfpin_vars.NOTICES)
    if not path:
        return

    def merge(notices):
        for notice in notices:
            _notices.setdefault((notice["site"], notice["api"]), notice)

    worker_parts(path, merge)
    write_json(own_path(path), sorted(_notices.values(), key=lambda n: (n["site"], n["api"])))
