"""`tfpin pins`: the constraint pins a cell needs, found by measurement (search.py, over the trials of trials.py,
each cell's search scheduled by discover.py, releases from index.py), proposed and applied (proposal.py), stored
per cell for a later `tfpin pins apply` (store.py)."""
