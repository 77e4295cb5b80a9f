"""Step 3, one cell: its environment (envs.py, installer.py, interpreters.py, local.py), its suite under pytest with
the in-cell plugins (incell.py, runner.py), what pytest said (junit.py) and the verdict (status.py, result.py); the
verdict cache that lets an unchanged cell skip all of it (cache.py); the project's bench in a cell (bench.py)."""
