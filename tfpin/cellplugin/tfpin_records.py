"""How the in-cell plugins hand a record to the harness (Python 3.6+): one JSON file, written whole or not at all.

A record is written to a temporary file and renamed, so the harness reads a complete record or none; a
failure to write is swallowed, because bookkeeping must never be what breaks a suite. Under pytest-xdist
each worker writes its part beside the record (`<record>.gw0`, ...), and the controller, which finishes
last, merges the parts into the record itself.
"""
import glob
import json
import os

WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # set by pytest-xdist in its worker processes


def own_path(path):
    """Where this process writes the record at `path`: the record itself, or a worker's part of it."""
    return "%s.%s" % (path, WORKER) if WORKER else path


def worker_parts(path, merge):
    """In the controller, merge(part) for every worker's part of the record at `path` (each removed once merged);
    a part that is unreadable or of another shape is skipped."""
    if WORKER:
        return
    for part in glob.glob(glob.escape(path) + ".gw*"):
        try:
            with open(part) as f:
                merge(json.load(f))
            os.remove(part)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass


def write_json(path, data):
    try:
        with open(path + ".tmp", "w") as f:
            json.dump(data, f, sort_keys=True)
        os.replace(path + ".tmp", path)
    except OSError:
        pass
