"""pytest's own answers, typed by hand: what tfpin's init and cells are checked against (never tfpin's code)."""
import re
import subprocess

ERROR_COLLECTING = re.compile(r"^_+ ERROR collecting (\S+) _+$", re.M)


def collect(python, root, *args, env=None):
    """(node ids, modules that failed to collect) as plain `pytest --collect-only -q` prints them, one id per line
    up to the first blank line; `-qq` when the project's own addopts say -v (pytest lists ids at verbosity -1)."""
    def run(quiet):
        return subprocess.run([str(python), "-m", "pytest", "--collect-only", quiet, "-p", "no:cacheprovider", *args],
                              cwd=root, capture_output=True, text=True, env=env, timeout=1800).stdout

    out = run("-q")
    if out.startswith("==="):
        out = run("-qq")
    ids = []
    for line in out.splitlines():
        if not line.strip():
            break
        ids.append(line.strip())
    return ids, sorted(set(ERROR_COLLECTING.findall(out)))
