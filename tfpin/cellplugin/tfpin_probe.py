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
import sys
import sysconfig


def canonical(name):
    return name.lower().replace("_", "-").replace(".", "-")


def main(names):
    site = sysconfig.get_paths()["purelib"]
    wanted = {canonical(n) for n in names}
    found, problems = set(), []
    for info in sorted(glob.glob(os.path.join(site, "*.dist-info"))):
        dist = canonical(os.path.basename(info)[: -len(".dist-info")].rsplit("-", 1)[0])
        record = os.path.join(info, "RECORD")
        if not os.path.isfile(record):
            problems.append("%s: RECORD missing" % dist)
            continue
        installed_tops = set()
        with open(record) as f:
            for row in csv.reader(f):
                if not row or row[0].endswith(".pyc"):
                    continue
                installed_tops.add(row[0].split("/")[0].split(".")[0])
                if not os.path.exists(os.path.normpath(os.path.join(site, row[0]))):
                    problems.append("%s: %s is missing" % (dist, row[0]))
                    break
        if dist in wanted:
            found.add(dist)
            top = os.path.join(info, "top_level.txt")
            modules = open(top).read().split() if os.path.isfile(top) else []
            # Only names the wheel installed at the top: TF 2.15's top_level.txt lists `third_party`, which it
            # ships only below tensorflow/, so it is not importable and never was.
            for module in modules:
                if module and module.split("/")[0] in installed_tops and \
                        importlib.util.find_spec(module.replace("/", ".")) is None:
                    problems.append("%s: module %s cannot be found" % (dist, module))
    for name in sorted(wanted - found):
        problems.append("%s: not installed" % name)
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
