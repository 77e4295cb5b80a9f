"""Harness self-tests run on the host Python (the one running nox); no TensorFlow here."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
