"""The names of the variables through which the host and the in-cell plugins talk, defined once for both sides.

The plugins (this directory is on a cell's PYTHONPATH) import it as `tfpin_vars`; the host imports it as
`tfpin.cellplugin.tfpin_vars`. Constants only: it runs on every Python a cell may have (3.6 included).
"""
CELL = "TFPIN_CELL"  # the cell's definition, for the project's own tests (tfpin.cells.Cell.env_token)
PROGRESS = "TFPIN_PROGRESS"  # the test that is starting, and how many are done (tfpin_progress)
OUTCOME = "TFPIN_OUTCOME"  # at the session's end: collected, with an outcome, exit status (tfpin_progress)
ARTIFACTS = "TFPIN_ARTIFACTS"  # where the between-cells writers keep their artifacts (tfpin_cross)
NOTICES = "TFPIN_NOTICES"  # the census of deprecation notices (tfpin_census)
LOADED = "TFPIN_LOADED"  # every file pytest loaded: the verdict cache's key (tfpin_loaded)
IMPORTS = "TFPIN_IMPORTS"  # where the pinned packages' import check writes its record (tfpin_imports)
PINNED = "TFPIN_PINNED"  # the distributions that check imports, space-separated (tfpin_imports)
CROSS = "TFPIN_CROSS"  # the readers' plan between cells (tfpin_cross)
COLLECT = "TFPIN_COLLECT"  # where a collection-only run writes what pytest collected (tfpin_collect)
FIRST = "TFPIN_FIRST"  # node ids to run first, one a line (tfpin_order)

# The per-run paths the host sets: where a cell's records go, not how it behaves (the verdict cache leaves them out).
RUN_PATHS = (PROGRESS, OUTCOME, ARTIFACTS, NOTICES, LOADED)
