"""Start coverage.py in every Python process of a cell's suite under `tfpin matrix --coverage`.

Copied into the env's site-packages with a `_tfpin_coverage.pth` that imports it (coverage's documented subprocess
mechanism, the .pth form), so it runs at the start of the suite's pytest and of every Python process the suite starts,
even one whose PYTHONPATH the suite replaced: the variables come through the environment every child inherits.
Without both variables (any run without --coverage) it does nothing. `TFPIN_COVERAGE_DIR` (tfpin/cell/covdata.py) is
where coverage.py is installed beside the env; a process that cannot import it runs unmeasured rather than failing.
Runs inside cells on Python 3.6: nothing newer than 3.6, nothing of tfpin.
"""
import os
import sys


def _start():
    settings = os.environ.get("COVERAGE_PROCESS_START")
    tool = os.environ.get("TFPIN_COVERAGE_DIR")
    if not settings or not tool:
        return
    if tool not in sys.path:
        sys.path.append(tool)
    try:
        import coverage
    except ImportError:
        return
    coverage.process_startup()


_start()
