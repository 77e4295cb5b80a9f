"""One log-level knob for TensorFlow's two loggers (C++ runtime and Python).

Importing this module does not import TensorFlow, on purpose: the C++ runtime reads
TF_CPP_MIN_LOG_LEVEL once (at its first log line, which normally happens while
`import tensorflow` loads kernels/devices), so the level must be set BEFORE TensorFlow
is imported to affect C++ messages.  The Python `tensorflow` logger can be changed any
time; set_log_level does both so the two agree (TF's own defaults disagree: C++ shows
INFO, the Python logger inherits WARNING from the root logger and hides INFO).

What each level hides (asserted, per cell, by tests/cell/test_log_level.py):

    level | hides
    0     | nothing
    1     | INFO
    2     | INFO, WARNING
    3     | INFO, WARNING, ERROR

FATAL is never hidden.  On the Python side level 0 also shows DEBUG.
Not covered by any level: with log_device_placement=True TF also printf()s each node's device
to stdout besides its C++ INFO log line; that stdout copy shows at every level.
"""
import logging
import os
import sys

ENV_VAR = "TF_CPP_MIN_LOG_LEVEL"
LOG_LEVELS = {
    0: "show everything (TensorFlow's C++ default)",
    1: "hide INFO",
    2: "hide INFO and WARNING",
    3: "hide INFO, WARNING and ERROR",
}
HIDDEN = {0: (), 1: ("INFO",), 2: ("INFO", "WARNING"), 3: ("INFO", "WARNING", "ERROR")}
# Python logging threshold per level: the lowest severity that is still shown.
PYTHON_LEVELS = {0: logging.DEBUG, 1: logging.WARNING, 2: logging.ERROR, 3: logging.CRITICAL}
TF_LOGGER_NAME = "tensorflow"


def validate(level):
    """Accept 0-3 as int or decimal string (CLI / environment); anything else is a ValueError."""
    if isinstance(level, bool):
        level = None
    elif isinstance(level, str) and level.strip().isdigit():
        level = int(level.strip())
    if level not in LOG_LEVELS:
        raise ValueError("log level must be one of %s (%s), got %r"
                         % (sorted(LOG_LEVELS), "; ".join("%d: %s" % kv for kv in sorted(LOG_LEVELS.items())),
                            level))
    return level


def set_log_level(level):
    """Set TF_CPP_MIN_LOG_LEVEL and the Python `tensorflow` logger consistently; returns the level.

    Call before importing TensorFlow for the C++ part to take effect.
    """
    level = validate(level)
    os.environ[ENV_VAR] = str(level)
    logging.getLogger(TF_LOGGER_NAME).setLevel(PYTHON_LEVELS[level])
    if _tensorflow_imported():
        import compat  # TF is loaded anyway; go through the table for TF's own logger accessor
        compat.get_logger().setLevel(PYTHON_LEVELS[level])
    return level


def current_level():
    """The level in effect for the C++ runtime as the environment says (TF's default 0 when unset)."""
    return validate(os.environ.get(ENV_VAR, "0"))


def _tensorflow_imported():
    return "tensorflow" in sys.modules
