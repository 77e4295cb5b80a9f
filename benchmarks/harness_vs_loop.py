"""tfpin against the loop a user would script by hand with the same installer, over one project's matrix.

    .venv/bin/python benchmarks/harness_vs_loop.py [--project examples/digits_tf1] [--repeat 3] [--json PATH]

The hand-written loop, per cell, one after the other (what the README of a TF1 project would tell you to do):

    uv venv -p <the cell's interpreter> DIR
    uv pip install --python DIR/bin/python <the cell's exact pins> <the project's install lines> pytest -c <its pins>
    DIR/bin/python -m pytest <the project's test paths>

Both run over the same cells: those of the project's matrix that can exist (tfpin's verdict, `unavailable`
cells left out, as the loop could not build them either), from the same uv cache, on the same interpreters.
Three situations, each measured `--repeat` times, the two sides alternating so both see the same machine:

    cold     no environments: tfpin with its envs directory removed and --no-cache; the loop with its own removed
    warm     every environment exists, every cell's suite runs again: tfpin --no-cache (its default -j); the loop
             again (uv finds everything installed)
    nothing  nothing changed: tfpin with its verdict cache (the loop has no such thing: its warm run stands in)

The medians are printed as a table with ratios (tfpin / loop), and every run's seconds as JSON (--json,
default <project>/reports/bench-harness-vs-loop.json). Last, tfpin runs once more warm with -j 1: its
verdicts (status and counts per cell) must be those of the default -j run, and the script says whether they are.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TFPIN = [sys.executable, "-m", "tfpin"]


def run(cmd, cwd, env=None, quiet=True) -> tuple[int, float]:
    t0 = time.monotonic()
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, stdout=subprocess.DEVNULL if quiet else None,
                          stderr=subprocess.DEVNULL if quiet else None)
    return proc.returncode, time.monotonic() - t0


def cells_of(project: Path) -> list[dict]:
    out = subprocess.run(TFPIN + ["list", "--json"], cwd=project, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def loop(project: Path, cells: list[dict], envs: Path, test: list[str], uv: str, python_of) -> dict:
    """The hand-written loop over `cells`; {cell id: pytest's exit code}."""
    codes = {}
    for cell in cells:
        env = envs / cell["id"]
        python = env / "bin" / "python"
        if not python.exists():
            subprocess.run([uv, "venv", "-q", "-p", python_of(cell["python"]), env], check=True)
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as con:
            con.write("\n".join(cell["constraints"]) + "\n")
        pins = ["%s==%s" % kv for kv in cell["requirements"].items()]
        subprocess.run([uv, "pip", "install", "-q", "--python", python, *pins, *cell["install"], "pytest",
                        "-c", con.name], cwd=project, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.unlink(con.name)
        codes[cell["id"]] = subprocess.run([python, "-m", "pytest", "-q", *test], cwd=project,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    return codes


def verdicts(project: Path, ids: list[str]) -> dict:
    out = {}
    for cid in ids:
        r = json.loads((project / "reports" / "cells" / (cid + ".json")).read_text())
        t = r["tests"]
        out[cid] = [r["status"], t["passed"], t["failed"], t["skipped"], t["errors"]]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", default=str(ROOT / "examples" / "digits_tf1"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    project = Path(args.project).resolve()
    sys.path.insert(0, str(ROOT))
    from tfpin import installer, interpreters
    from tfpin import project as projects

    uv = installer.find_uv()
    test = projects.load(project).test
    python_of = lambda version: interpreters.find(version)[0]  # noqa: E731 - the interpreter tfpin uses, for both
    envs = project / ".tfpin" / "envs"
    loop_envs = Path(tempfile.mkdtemp(prefix="hand-loop-"))
    env = dict(os.environ, TFPIN_HEARTBEAT_S="3600")

    # Which cells can exist: tfpin's own verdict (an `unavailable` cell is left out of both sides).
    code, first_s = run(TFPIN + ["matrix"], project, env)
    print("tfpin matrix, every cell, to learn which can exist: %.1f s (exit %d)" % (first_s, code), flush=True)
    all_cells = cells_of(project)
    cells = [c for c in all_cells if verdicts(project, [c["id"]])[c["id"]][0] != "unavailable"]
    ids = [c["id"] for c in cells]
    only = ["--cells", ",".join(ids)]
    print("cells: %s (%d of %d; unavailable left out)" % (", ".join(ids), len(ids), len(all_cells)), flush=True)

    times = {k: [] for k in ("tfpin cold", "loop cold", "tfpin warm", "loop warm", "tfpin nothing changed")}
    loop_codes = {}
    for i in range(args.repeat):
        shutil.rmtree(envs, ignore_errors=True)
        code, s = run(TFPIN + ["matrix", "--no-cache", *only], project, env)
        times["tfpin cold"].append(s)
        print("run %d: tfpin cold %.1f s (exit %d)" % (i + 1, s, code), flush=True)
        shutil.rmtree(loop_envs, ignore_errors=True)
        t0 = time.monotonic()
        loop_codes = loop(project, cells, loop_envs, test, uv, python_of)
        times["loop cold"].append(time.monotonic() - t0)
        print("run %d: loop cold %.1f s (pytest exits %s)" % (
            i + 1, times["loop cold"][-1], sorted(set(loop_codes.values()))), flush=True)
        code, s = run(TFPIN + ["matrix", "--no-cache", *only], project, env)
        times["tfpin warm"].append(s)
        default_verdicts = verdicts(project, ids)
        print("run %d: tfpin warm --no-cache %.1f s (exit %d)" % (i + 1, s, code), flush=True)
        t0 = time.monotonic()
        loop(project, cells, loop_envs, test, uv, python_of)
        times["loop warm"].append(time.monotonic() - t0)
        print("run %d: loop warm %.1f s" % (i + 1, times["loop warm"][-1]), flush=True)
        code, s = run(TFPIN + ["matrix", *only], project, env)
        times["tfpin nothing changed"].append(s)
        print("run %d: tfpin nothing changed %.1f s (exit %d)" % (i + 1, s, code), flush=True)

    code, s = run(TFPIN + ["matrix", "--no-cache", "-j", "1", *only], project, env)
    serial_verdicts = verdicts(project, ids)
    same = serial_verdicts == default_verdicts
    shutil.rmtree(loop_envs, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [("cold (no envs yet)", med["tfpin cold"], med["loop cold"]),
            ("warm envs, every cell re-run (`--no-cache`), default `-j`", med["tfpin warm"], med["loop warm"]),
            ("nothing changed (verdict cache)", med["tfpin nothing changed"], med["loop warm"])]
    print()
    print("%s, %d cells, median of %d runs, one invocation of benchmarks/harness_vs_loop.py:" % (
        project.name, len(ids), args.repeat))
    print()
    print("| run | tfpin | hand-written uv + pytest loop | ratio |")
    print("|---|--:|--:|--:|")
    for label, ours, theirs in rows:
        print("| %s | %.1f s | %.1f s | %.2fx |" % (label, ours, theirs, ours / theirs))
    print()
    print("tfpin warm -j 1: %.1f s; verdicts %s the default -j run's" % (s, "identical to" if same else "DIFFER from"))
    data = {"project": str(project), "cells": ids, "repeat": args.repeat, "first_full_run_s": first_s,
            "seconds": times, "median": med,
            "ratios": {label: ours / theirs for label, ours, theirs in rows}, "serial_s": s,
            "verdicts": default_verdicts, "serial_verdicts": serial_verdicts, "verdicts_identical": same,
            "loop_pytest_exit_codes": loop_codes}
    out = Path(args.json) if args.json else project / "reports" / "bench-harness-vs-loop.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    print("json: %s" % out)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
