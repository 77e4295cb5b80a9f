"""Step 1, load: what a run is asked to do, read and refused here before anything runs. The project's config
(project.py), the matrix and its cells (matrix.py, cells.py, data in matrices/), where outputs go (layout.py), the
host variables a cell may see (environ.py), and the Context every later step shares (context.py, inputs.py)."""
