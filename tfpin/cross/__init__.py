"""Step 4, between cells: the readers of every passed cell run over every cell's artifacts (run.py), their answers
judged (verdicts.py) and shown (view.py)."""
