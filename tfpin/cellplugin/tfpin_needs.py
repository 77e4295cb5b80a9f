"""What the project says it needs, read from its own installed metadata; runs inside the cell's Python (3.6+).

`tfpin init` does not parse setup.py: it lets the installer build and install the project into the cell,
then reads what the build wrote. The distributions installed from the project root (PEP 610's
direct_url.json names the directory) give their name, their extras (Provides-Extra) and their
requirements (Requires-Dist, markers kept). Prints one JSON line:
{"projects": [{"name", "extras": [...], "requires": [...]}]}.
"""
import email.parser
import glob
import json
import os
import sys
import sysconfig


def _url_path(url):
    if not url.startswith("file://"):
        return None
    path = url[len("file://"):]
    try:
        from urllib.parse import unquote
    except ImportError:  # pragma: no cover (Python 2 never runs here)
        return path
    return unquote(path)


def main(root):
    root = os.path.realpath(root)
    site = sysconfig.get_paths()["purelib"]
    found = []
    for info in sorted(glob.glob(os.path.join(site, "*.dist-info"))):
        try:
            with open(os.path.join(info, "direct_url.json")) as f:
                url = json.load(f).get("url", "")
        except (OSError, ValueError):
            continue
        path = _url_path(url)
        if path is None or os.path.realpath(path) != root:
            continue
        with open(os.path.join(info, "METADATA"), encoding="utf-8", errors="replace") as f:
            meta = email.parser.Parser().parse(f, headersonly=True)
        found.append({"name": meta.get("Name", ""), "extras": meta.get_all("Provides-Extra") or [],
                      "requires": meta.get_all("Requires-Dist") or []})
    print(json.dumps({"projects": found}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
