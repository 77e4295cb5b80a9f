"""tfpin: build one environment per matrix cell, run the cell suite there, recommend a pin.

Host-side only (runs under the Python that runs nox); nothing here imports TensorFlow.
"""

__version__ = "0.2.0"
