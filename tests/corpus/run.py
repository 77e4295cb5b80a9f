"""The corpus: real TF1-era projects nobody here wrote, taken from the package index at run time.

For each project (tests/corpus/projects.toml) and each cell, the truth is measured by hand first, with no
tfpin in the loop: `uv venv`, `uv pip install` of the cell's pins (from `tfpin list --json`: the cell's
definition is data) and what a maintainer installs, then plain pytest from the project root:
- `pytest --collect-only -q` in the newest cell: the node ids, and the modules that do not collect there;
- `pytest -rfE` with those modules ignored: the exit status and the failing ids of pytest's own summary.
Then, in a fresh copy committed to git, `tfpin init && tfpin matrix --cells ...` with zero edits, and the
two are compared: init's `test` must collect exactly the ids collected by hand (by plain pytest, in the cell
init built), and each cell's verdict (status and failing ids) must equal the truth by hand.

Usage: python tests/corpus/run.py [--projects a,b] [--cells id,id]; writes reports/corpus.{json,md};
exit 0 only when every project agrees. Nothing of the projects is kept in this repository.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "harness"))
import byhand  # noqa: E402 (pytest's answers by hand, shared with tests/harness/test_init.py)

sys.path.insert(0, str(ROOT))
from tfpin.cell import index  # noqa: E402 (the index tfpin's installers use: the same registry for the downloads)

PROJECTS = Path(__file__).with_name("projects.toml")
# outside this repository: a pytest or tfpin run there must not find this repository's configuration above it
WORK = Path(os.environ.get("TFPIN_CORPUS_DIR") or Path.home() / ".cache" / "tfpin-corpus")
CELLS = ["py3.6-tf1.12-keras2.2.4", "py3.7-tf1.13-keras2.2.4", "py3.7-tf1.15-keras2.2.5"]
SUMMARY = re.compile(r"^(FAILED|ERROR) (\S+)")
TFPIN = [sys.executable, "-m", "tfpin"]


def sh(cmd, cwd=None, env=None, timeout=3600, check=True):
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise RuntimeError("%s exited %s: %s" % (" ".join(map(str, cmd)), out.returncode,
                                                 (out.stdout + out.stderr)[-2000:]))
    return out


def host_env():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("VIRTUAL_ENV", None)
    return env


def fetch(project) -> Path:
    """The release's sdist or wheel from the index (PEP 691's JSON listing, sha256 checked), unpacked once into
    WORK/src/<name>-<version>. Nothing is built: building metadata is the installer's job, in a cell."""
    dest = WORK / "src" / ("%s-%s" % (project["name"], project["version"]))
    if dest.is_dir():
        return dest
    request = urllib.request.Request("%s/%s/" % (index.index_url(), project["name"]), headers={"Accept": index.ACCEPT})
    with urllib.request.urlopen(request, timeout=60) as answer:
        files = json.load(answer)["files"]
    suffixes = (".whl",) if project["dist"] == "wheel" else (".tar.gz", ".zip")
    stem = re.sub(r"[-_.]+", "[-_.]", project["name"])
    wanted = [f for f in files if f["filename"].endswith(suffixes) and re.match(
        r"(?i)%s-%s(-|\.tar|\.zip)" % (stem, re.escape(project["version"])), f["filename"])]
    if not wanted:
        raise RuntimeError("%s %s: the index has no %s" % (project["name"], project["version"], project["dist"]))
    chosen = wanted[0]
    archive = WORK / "dl" / chosen["filename"]
    archive.parent.mkdir(parents=True, exist_ok=True)
    if not archive.is_file():
        with urllib.request.urlopen(chosen["url"], timeout=600) as answer:
            data = answer.read()
        if hashlib.sha256(data).hexdigest() != chosen["hashes"]["sha256"]:
            raise RuntimeError("%s: sha256 differs from the index's" % chosen["filename"])
        archive.write_bytes(data)
    scratch = dest.with_suffix(".partial")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    if archive.suffix in (".whl", ".zip"):
        zipfile.ZipFile(archive).extractall(scratch)
    else:
        tarfile.open(archive).extractall(scratch)
    entries = list(scratch.iterdir())
    top = entries[0] if len(entries) == 1 and entries[0].is_dir() else scratch
    os.replace(top, dest)
    shutil.rmtree(scratch, ignore_errors=True)
    return dest


def lay_out(project, src: Path, dest: Path) -> Path:
    """A fresh copy as a user has it: committed to git; in a subfolder of a larger repository when the project
    has no packaging of its own (`monorepo`). Returns the project root."""
    shutil.rmtree(dest, ignore_errors=True)
    repo = dest
    root = dest / project.get("monorepo", "")
    shutil.copytree(src / project.get("root", ""), root, symlinks=True)
    for name in project.get("remove", []):  # what the distribution ships that makes it a package (see projects.toml)
        target = root / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    if project.get("monorepo"):
        (repo / "README.md").write_text("a larger repository; the project is %s\n" % project["monorepo"])
    sh(["git", "init", "-q", repo])
    sh(["git", "add", "-A"], cwd=repo)
    sh(["git", "-c", "user.name=corpus", "-c", "user.email=corpus@localhost", "commit", "-qm", "as downloaded"],
       cwd=repo)
    return root


def cell_definitions(ids):
    out = sh(TFPIN + ["list", "--json", "--matrix", "table"], cwd=ROOT, env=host_env())
    cells = {c["id"]: c for c in json.loads(out.stdout)}
    return [cells[i] for i in ids]


def python_for(version):
    found = sorted(Path.home().glob(".pyenv/versions/%s.*/bin/python" % version))
    return str(found[-1]) if found else "python" + version


def by_hand(project, cell, root: Path, envs: Path, ignore=()) -> dict:
    """The truth: plain uv and plain pytest, no tfpin."""
    env_dir = envs / cell["id"]
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    shutil.rmtree(env_dir, ignore_errors=True)
    sh([uv, "venv", "-q", "-p", python_for(cell["python"]), env_dir])
    cons = envs / (cell["id"] + "-constraints.txt")
    cons.write_text("\n".join(cell["constraints"]) + "\n")
    reqs = ["%s==%s" % kv for kv in cell["requirements"].items()] + ["pytest"] + project["install_by_hand"]
    env = dict(os.environ, VIRTUAL_ENV=str(env_dir))
    sh([uv, "pip", "install", "-q", "-p", env_dir / "bin" / "python", "-c", cons, *reqs], cwd=root, env=env)
    python = env_dir / "bin" / "python"
    ids, errors = byhand.collect(python, root)
    args = ["--ignore=" + e for e in (ignore if ignore is not None else errors)]
    start = time.monotonic()
    run = sh([python, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", *args], cwd=root, check=False,
             timeout=3600)
    failing = sorted({m.group(2) for m in (SUMMARY.match(ln) for ln in run.stdout.splitlines()) if m})
    status = {0: "passed", 1: "failed"}.get(run.returncode, "error")
    return {"status": status, "exit": run.returncode, "failing": failing, "ids": ids, "not_collecting": errors,
            "seconds": round(time.monotonic() - start, 1), "tail": run.stdout.strip().splitlines()[-1:]}


def zero_config(project, root: Path, cell_ids) -> dict:
    """`tfpin init && tfpin matrix --cells ...`, as a new user types them, and what they produced."""
    env = host_env()
    init = sh(TFPIN + ["init"], cwd=root, env=env, check=False)
    out = {"init_exit": init.returncode, "init_output": init.stdout + init.stderr, "cells": {}}
    if init.returncode != 0:
        return out
    config = tomllib.loads((root / "tfpin.toml").read_text())
    out["test"], out["install"] = config.get("test"), config.get("install", [])
    newest = cell_ids[-1]
    python = root / ".tfpin" / "envs" / newest / "bin" / "python"
    out["ids"] = byhand.collect(python, root, *(config.get("test") or []))[0]
    # the same question typed by hand, in the same environment: plain `pytest --collect-only` from the root
    out["ids_by_hand_here"] = byhand.collect(python, root)[0]
    run = sh(TFPIN + ["matrix", "-q", "--cells", ",".join(cell_ids)], cwd=root, env=env, check=False, timeout=7200)
    out["matrix_exit"] = run.returncode
    for cid in cell_ids:
        path = root / "reports" / "cells" / (cid + ".json")
        data = json.loads(path.read_text()) if path.is_file() else {}
        out["cells"][cid] = {"status": data.get("status", "missing"), "failing": sorted(data.get("failing", [])),
                             "reason": data.get("reason", "")[:300], "tests": data.get("tests")}
    return out


def check_project(project, cell_ids) -> dict:
    src = fetch(project)
    base = WORK / "runs" / project["id"]
    hand_root = lay_out(project, src, base / "by-hand")
    envs = base / "hand-envs"
    envs.mkdir(parents=True, exist_ok=True)
    cells = cell_definitions(cell_ids)
    truth = {}
    newest = by_hand(project, cells[-1], hand_root, envs, ignore=None)
    for cell in cells[:-1]:
        truth[cell["id"]] = by_hand(project, cell, hand_root, envs, ignore=newest["not_collecting"])
    truth[cells[-1]["id"]] = newest
    tf_root = lay_out(project, src, base / "zero-config")
    tool = zero_config(project, tf_root, cell_ids)
    problems = []
    if tool["init_exit"] != 0:
        problems.append("tfpin init exited %s" % tool["init_exit"])
    elif not sorted(tool["ids"]) == sorted(tool["ids_by_hand_here"]) == sorted(newest["ids"]):
        problems.append("init's test collects %d ids; pytest by hand %d in the same env, %d in its own" % (
            len(tool["ids"]), len(tool["ids_by_hand_here"]), len(newest["ids"])))
    for module in newest["not_collecting"]:
        if module not in tool["init_output"]:
            problems.append("init did not name %s, which does not collect" % module)
    for cid in cell_ids:
        mine, hand = tool["cells"].get(cid, {}), truth[cid]
        if mine.get("status") != hand["status"] or mine.get("failing") != hand["failing"]:
            problems.append("%s: tfpin %s %s, by hand %s %s" % (cid, mine.get("status"), mine.get("failing"),
                                                               hand["status"], hand["failing"]))
    return {"name": project["id"], "version": project["version"], "shapes": project["shapes"], "truth": truth,
            "tfpin": tool, "problems": problems}


def table(results, shapes) -> str:
    """One row per project and cell: tfpin's zero-config verdict beside the one measured by hand; `shapes`: the
    short label of each project (projects.toml)."""
    lines = ["| project | release | shape | cell | tfpin init + tfpin matrix, zero edits | by hand (uv + plain pytest) "
             "| same |", "|---|---|---|---|---|---|---|"]
    for r in results:
        for i, (cid, hand) in enumerate(r["truth"].items()):
            mine = r["tfpin"]["cells"].get(cid, {})
            tests = mine.get("tests") or {}
            counts = ", ".join("%d %s" % (tests[k], k) for k in ("passed", "failed", "errors", "skipped")
                               if tests.get(k))
            said = re.sub(r"(, \d+ warnings?)?\s*in [\d.]+s.*$", "", (hand.get("tail") or [""])[0].strip("= "))
            fails = hand.get("failing") or []
            shown = "; failing: %s%s" % (", ".join(fails[:2]), " +%d" % (len(fails) - 2) if len(fails) > 2 else "") \
                if fails else ""
            same = mine.get("status") == hand["status"] and mine.get("failing") == hand["failing"]
            head = (r["name"], r["version"], shapes.get(r["name"], "")) if i == 0 else ("", "", "")
            lines.append("| %s | %s | %s | %s | %s (%s) | %s (%s)%s | %s |" % (
                *head, cid, mine.get("status"), counts, hand["status"], said, shown, "yes" if same else "**no**"))
    return "\n".join(lines) + "\n"


def write_reports(results, projects) -> None:
    """reports/corpus.{json,md}: this run's projects, beside the earlier runs' results of the other projects still
    in projects.toml (each says the commit and time it was measured at)."""
    known = [p["id"] for p in projects]
    path = ROOT / "reports" / "corpus.json"
    path.parent.mkdir(exist_ok=True)
    try:
        earlier = [r for r in json.loads(path.read_text()) if r["name"] in known]
    except (OSError, ValueError, KeyError, TypeError):
        earlier = []
    fresh = {r["name"] for r in results}
    merged = sorted([r for r in earlier if r["name"] not in fresh] + results, key=lambda r: known.index(r["name"]))
    path.write_text(json.dumps(merged, indent=2) + "\n")
    path.with_suffix(".md").write_text(table(merged, {p["id"]: p["shape"] for p in projects}))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", default="", help="comma-separated project names (default: all)")
    parser.add_argument("--cells", default=",".join(CELLS))
    args = parser.parse_args(argv)
    projects = tomllib.loads(PROJECTS.read_text())["projects"]
    for project in projects:
        project.setdefault("id", project["name"])  # one release can stand for two layouts
    wanted = [p for p in args.projects.split(",") if p]
    unknown = sorted(set(wanted) - {p["id"] for p in projects})
    if unknown:
        parser.error("unknown project(s) %s; projects.toml has %s" % (", ".join(unknown),
                                                                      ", ".join(p["id"] for p in projects)))
    chosen = [p for p in projects if not wanted or p["id"] in wanted]
    cell_ids = [c for c in args.cells.split(",") if c]
    results = []
    for project in chosen:
        start = time.monotonic()
        print("corpus: %s %s ..." % (project["id"], project["version"]), flush=True)
        result = check_project(project, cell_ids)
        result["seconds"] = round(time.monotonic() - start, 1)
        results.append(result)
        print("corpus: %s: %s (%.0f s)" % (project["id"], "; ".join(result["problems"]) or "agrees in every cell",
                                          result["seconds"]), flush=True)
        result["commit"] = sh(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT).stdout.strip()
        result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        write_reports(results, projects)
    print(table(results, {p["id"]: p["shape"] for p in projects}))
    bad = [r["name"] for r in results if r["problems"]]
    print("corpus: %d of %d projects agree%s" % (len(results) - len(bad), len(results),
                                                  "; not: " + ", ".join(bad) if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
