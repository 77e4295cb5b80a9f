"""Start coverage.py in every Python process of a cell's suite under `tfpin matrix --coverage`.

Only this directory's parent puts it on PYTHONPATH, and only for a --coverage run, so the interpreter imports this
file at start-up in the suite's pytest and in every fresh Python process the suite starts (coverage's documented
subprocess mechanism: COVERAGE_PROCESS_START names the settings; `process_startup` does nothing without it).
A process that cannot import coverage runs unmeasured rather than failing: the host reports the cell's data as
it finds it. Runs inside cells on Python 3.6: nothing newer than 3.6, nothing of tfpin.
"""
import os

if os.environ.get("COVERAGE_PROCESS_START"):
    try:
        import coverage
    except ImportError:
        coverage = None
    if coverage is not None:
        coverage.process_startup()
