"""What each TF_CPP_MIN_LOG_LEVEL really hides on this cell, in C++ and in the Python logger.

Each level runs in its own fresh process (the C++ runtime reads the level once) from a script
FILE; the four processes start when this module is collected (tests/cell/background.py) and run
alongside the rest of the suite.  The expected table is
the one documented in compat/logs.py's docstring, so docs and behaviour cannot drift apart.
"""
import logging
import os
import re

import background
import pytest

from compat import logs

SEVERITIES = ("INFO", "WARNING", "ERROR")
# TF's own log format ("2026-11-30 14:27:19.201524: E tensorflow/...") and, from TF 2.16, absl's
# ("E0000 00:00:1796048850.192675   32045 logging_ops.cc:173] ...": month-day, hours:minutes:epoch-seconds, thread).
CPP_RECORD = re.compile(r"^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: ([IWEF]) |([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ )")
CPP_SEVERITY = {"I": "INFO", "W": "WARNING", "E": "ERROR", "F": "FATAL"}


def documented_table():
    """The 'level | hides' table of compat/logs.py's docstring, parsed."""
    rows = re.findall(r"^\s*(\d)\s*\|\s*(.+?)\s*$", logs.__doc__, re.M)
    return {int(level): () if hides == "nothing" else tuple(h.strip() for h in hides.split(","))
            for level, hides in rows}


def cpp_records(stderr):
    """C++ log records (severity, text) -- a record may continue on indented lines."""
    records = []
    for line in stderr.splitlines():
        match = CPP_RECORD.match(line)
        if match:
            records.append([CPP_SEVERITY[match.group(1) or match.group(2)], line])
        elif records and line[:1].isspace():
            records[-1][1] += "\n" + line
    return records


# One fresh process per level, started at collection (the C++ runtime reads the level once).
LEVEL_ENV = {logs.ENV_VAR: None}  # the script sets the level itself, before importing TF
for _level in sorted(logs.LOG_LEVELS):
    background.start("log_levels.py", [str(_level)], env=LEVEL_ENV)


@pytest.fixture(scope="module")
def runs():
    out = {}
    for level in sorted(logs.LOG_LEVELS):
        run = background.result("log_levels.py", [str(level)], env=LEVEL_ENV, timeout=300)
        assert run.returncode == 0 and "TFPIN-DONE" in run.stdout, "level %d run failed:\n%s" % (
            level, run.stderr[-3000:])
        out[level] = (run.stdout, run.stderr)
    return out


def test_docstring_table_is_the_code_table():
    assert documented_table() == logs.HIDDEN
    assert sorted(logs.HIDDEN) == sorted(logs.LOG_LEVELS) == [0, 1, 2, 3]


@pytest.mark.parametrize("level", sorted(logs.LOG_LEVELS))
def test_level_hides_what_the_docs_say(level, runs):
    stdout, stderr = runs[level]
    records = cpp_records(stderr)
    cpp_shown = {s for s in SEVERITIES if any(sev == s and "TFPIN_CPP_" + s in text for sev, text in records)}
    py_shown = {s for s in ("DEBUG",) + SEVERITIES if "TFPIN-PY-" + s in stderr}
    want_hidden = set(documented_table()[level])
    assert set(SEVERITIES) - cpp_shown == want_hidden, "C++ at level %d:\n%s" % (level, stderr[-2000:])
    assert set(SEVERITIES) - py_shown == want_hidden, "Python logger at level %d:\n%s" % (level, stderr[-2000:])
    assert ("TFPIN-PY-DEBUG" in stderr) == (level == 0)
    # Documented exception: the placement printf on stdout ignores the level.
    assert "TFPIN_CPP_INFO: (Mul)" in stdout


@pytest.mark.parametrize("bad", [4, -1, "x", "", None, True, 1.5])
def test_bad_level_is_rejected_with_the_allowed_values(bad):
    with pytest.raises(ValueError, match=r"\[0, 1, 2, 3\]"):
        logs.validate(bad)


def test_set_log_level_sets_env_and_python_logger_in_process(monkeypatch):
    import compat

    logger = logging.getLogger(logs.TF_LOGGER_NAME)
    monkeypatch.setattr(logger, "level", logger.level)  # restored after the test
    monkeypatch.setenv(logs.ENV_VAR, "0")
    assert logs.set_log_level(" 2 ") == 2
    assert os.environ[logs.ENV_VAR] == "2" and logs.current_level() == 2
    assert compat.get_logger() is logger and logger.getEffectiveLevel() == logging.ERROR
