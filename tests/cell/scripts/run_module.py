"""Run `python -m MODULE ARGS...` from a script file, so background.py can queue CLI runs.

Usage: run_module.py MODULE [ARGS...].  Exit code, stdout and stderr are the module's own.
"""
import runpy
import sys

if __name__ == "__main__":
    module = sys.argv[1]
    sys.argv = [module] + sys.argv[2:]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
