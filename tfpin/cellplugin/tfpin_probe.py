"""Is a reused cell environment still whole? Runs inside the cell's Python (3.6+), in well under a second.

A matching stamp only says what *was* installed. This checks what is there now: every file
each installed distribution's RECORD lists still exists, and the top-level modules of the
named requirements can be found by the import system (found, not imported: TensorFlow's
import alone costs seconds). Prints one line per problem; exit 1 when there is any.
"""
import csv
import glob
import importlib.util
import os
import re
import sys
import sysconfig


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def distributions(site):
    """(canonical name, dist-info directory) of every distribution installed in site, sorted."""
    for info in sorted(glob.glob(os.path.join(site, "*.dist-info"))):
        yield canonical(os.path.basename(info)[: -len(".dist-info")].rsplit("-", 1)[0]), info


def record(info):
    """The paths a distribution's RECORD lists (bytecode left out), or None without a RECORD."""
    path = os.path.join(info, "RECORD")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return [row[0] for row in csv.reader(f) if row and not row[0].endswith(".pyc")]


def tops(paths):
    """The top-level names those paths install ('six.py' -> 'six', 'tensorflow/...' -> 'tensorflow')."""
    return {p.split("/")[0].split(".")[0] for p in paths}


def listed_modules(info, installed):
    """top_level.txt's modules, only those the wheel installed at the top: TF 2.15's lists `third_party`,
    which it ships only below tensorflow/, so it is not importable and never was."""
    path = os.path.join(info, "top_level.txt")
    listed = open(path).read().split() if os.path.isfile(path) else []
    return [m for m in listed if m and m.split("/")[0] in installed]


def main(names):
    site = sysconfig.get_paths()["purelib"]
    wanted = {canonical(n) for n in names}
    found, problems = set(), []
    for dist, info in distributions(site):
        paths = record(info)
        if paths is None:
            problems.append("%s: RECORD missing" % dist)
            continue
        missing = [p for p in paths if not os.path.exists(os.path.normpath(os.path.join(site, p)))]
        if missing:
            problems.append("%s: %s is missing" % (dist, missing[0]))
        if dist in wanted:
            found.add(dist)
            for module in listed_modules(info, tops(paths)):
                if importlib.util.find_spec(module.replace("/", ".")) is None:
                    problems.append("%s: module %s cannot be found" % (dist, module))
    for name in sorted(wanted - found):
        problems.append("%s: not installed" % name)
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
