"""tfpin against what a user would use instead, over one project's matrix: the loop they would script by hand
with the same installer, tox, and the physical floor.

    .venv/bin/python benchmarks/harness_vs_loop.py [--project examples/digits_tf1] [--repeat 3] [--json PATH]

The hand-written loop, per cell, one after the other (what the README of a TF1 project would tell you to do):

    uv venv -p <the cell's interpreter> DIR
    uv pip install --python DIR/bin/python <the cell's exact pins> <the project's install lines> pytest -c <its pins>
    DIR/bin/python -m pytest <the project's test paths>

tox: the newest tox and tox-uv (installed into a throwaway venv at the start, so uv installs for it too), a
generated tox.toml with one env per cell (its interpreter, the same pins, constraints and install lines, and
pytest as deps; the same test command), run as `tox -p auto`. Its verdict per cell (the env's success) is
compared with tfpin's, cell by cell.

The floor: the CPU seconds of every project test tfpin's warm run executed, divided by the cores: each cell's
suite (its result's tests_cpu_s: every process the suite started) and the readers between cells (the run's report's
cross.readers_cpu_s, one reading pytest per cell). No runner can run those tests faster on this machine. tox and
the loop run no readers, so they can finish under this floor; the readers' share is printed beside it.

All run over the same cells: those of the project's matrix that can exist (tfpin's verdict, `unavailable`
cells left out, as the loop could not build them either), from the same uv cache, on the same interpreters.
Three situations, each measured `--repeat` times, the sides alternating so all see the same machine:

    cold     no environments: tfpin with its envs directory removed and --no-cache; the loop and tox with theirs
             removed
    warm     every environment exists, every cell's suite runs again: tfpin --no-cache (its default -j); the loop
             again (uv finds everything installed); tox again
    nothing  nothing changed: tfpin with its verdict cache (the loop has no such thing: its warm run stands in)

The medians are printed as a table with ratios (tfpin / loop, tfpin / tox, tfpin / floor), and every run's
seconds as JSON (--json, default <project>/reports/bench-harness-vs-loop.json). Last, tfpin runs once more
warm with -j 1: its verdicts (status and counts per cell) must be those of the default -j run, and the script
says whether they are.
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
# tfpin from this checkout, whether or not it is installed in the Python running this script
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
CORES = len(os.sched_getaffinity(0))


def run(cmd, cwd, env=None, quiet=True) -> tuple[int, float]:
    t0 = time.monotonic()
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, stdout=subprocess.DEVNULL if quiet else None,
                          stderr=subprocess.DEVNULL if quiet else None)
    return proc.returncode, time.monotonic() - t0


def cells_of(project: Path) -> list[dict]:
    out = subprocess.run(TFPIN + ["list", "--json"], cwd=project, capture_output=True, text=True, check=True, env=ENV)
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


class Tox:
    """tox 4 with tox-uv in a venv of its own, over a generated tox.toml of the cells (envs cell0, cell1, ...: a
    name like py3.7-... would make tox derive a base Python from it)."""

    def __init__(self, uv: str, project: Path, cells: list[dict], test: list[str], python_of, work: Path):
        self.work, self.cells = work, cells
        venv = work / "tox-venv"
        subprocess.run([uv, "venv", "-q", "-p", sys.executable, venv], check=True)
        subprocess.run([uv, "pip", "install", "-q", "--python", venv / "bin" / "python", "tox", "tox-uv"], check=True)
        self.tox = venv / "bin" / "tox"
        said = subprocess.run([self.tox, "--version"], capture_output=True, text=True).stdout.split()
        plugin = [w for w in said if w.startswith("tox-uv")]
        self.version = "tox %s, %s" % (said[0], plugin[0] if plugin else "no tox-uv")
        self.names = {"cell%d" % i: cell["id"] for i, cell in enumerate(cells)}
        lines = ["env_list = %s" % json.dumps(list(self.names)), "", "[env_run_base]", "skip_install = true",
                 "change_dir = %s" % json.dumps(str(project)),
                 "commands = [%s]" % json.dumps(["python", "-m", "pytest", "-q", *test]), ""]
        for name, cell in zip(self.names, cells):
            constraints = work / (name + "-constraints.txt")
            constraints.write_text("\n".join(cell["constraints"]) + "\n")
            deps = ["%s==%s" % kv for kv in cell["requirements"].items()] + list(cell["install"]) + [
                "pytest", "-c " + str(constraints)]
            real = subprocess.run([python_of(cell["python"]), "-c", "import sys; print(sys.executable)"],
                                  capture_output=True, text=True, check=True).stdout.strip()  # not a pyenv shim
            lines += ["[env.%s]" % name, "base_python = [%s]" % json.dumps(real),
                      "deps = %s" % json.dumps(deps), ""]
        self.config = work / "tox.toml"
        self.config.write_text("\n".join(lines))

    def run(self, fresh: bool) -> tuple[float, dict]:
        """(seconds, {cell id: True when its env's commands succeeded})."""
        workdir = self.work / "tox-work"
        if fresh:
            shutil.rmtree(workdir, ignore_errors=True)
        result = self.work / "tox-result.json"
        code, s = run([self.tox, "-c", self.config, "--workdir", workdir, "-p", "auto", "--result-json", result],
                      self.work)
        envs = json.loads(result.read_text()).get("testenvs", {})
        return s, {cid: bool(envs.get(name, {}).get("result", {}).get("success")) for name, cid in self.names.items()}


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
    from tfpin.cell import installer, interpreters
    from tfpin.config import project as projects

    uv = installer.find_uv()
    test = projects.load(project).test
    python_of = lambda version: interpreters.find(version)[0]  # noqa: E731 - the interpreter tfpin uses, for both
    envs = project / ".tfpin" / "envs"
    loop_envs = Path(tempfile.mkdtemp(prefix="hand-loop-"))
    env = dict(ENV, TFPIN_HEARTBEAT_S="3600")

    # Which cells can exist: tfpin's own verdict (an `unavailable` cell is left out of both sides).
    code, first_s = run(TFPIN + ["matrix"], project, env)
    print("tfpin matrix, every cell, to learn which can exist: %.1f s (exit %d)" % (first_s, code), flush=True)
    all_cells = cells_of(project)
    cells = [c for c in all_cells if verdicts(project, [c["id"]])[c["id"]][0] != "unavailable"]
    ids = [c["id"] for c in cells]
    only = ["--cells", ",".join(ids)]
    print("cells: %s (%d of %d; unavailable left out)" % (", ".join(ids), len(ids), len(all_cells)), flush=True)

    tox = Tox(uv, project, cells, test, python_of, Path(tempfile.mkdtemp(prefix="tox-bench-")))
    print("tox: %s" % tox.version, flush=True)
    times = {k: [] for k in ("tfpin cold", "loop cold", "tox cold", "tfpin warm", "loop warm", "tox warm",
                             "tfpin nothing changed", "floor", "readers")}
    loop_codes, tox_ok = {}, {}
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
        s, tox_ok = tox.run(fresh=True)
        times["tox cold"].append(s)
        print("run %d: tox cold %.1f s" % (i + 1, s), flush=True)
        code, s = run(TFPIN + ["matrix", "--no-cache", *only], project, env)
        times["tfpin warm"].append(s)
        default_verdicts = verdicts(project, ids)
        suites, readers = sum(cpu_s(project, cid) for cid in ids), readers_cpu_s(project)
        times["floor"].append((suites + readers) / CORES)
        times["readers"].append(readers / CORES)
        print("run %d: tfpin warm --no-cache %.1f s (exit %d); floor %.1f s (suites %.1f + readers %.1f CPU-s over %d "
              "cores)" % (i + 1, s, code, times["floor"][-1], suites, readers, CORES), flush=True)
        t0 = time.monotonic()
        loop(project, cells, loop_envs, test, uv, python_of)
        times["loop warm"].append(time.monotonic() - t0)
        print("run %d: loop warm %.1f s" % (i + 1, times["loop warm"][-1]), flush=True)
        s, tox_ok = tox.run(fresh=False)
        times["tox warm"].append(s)
        print("run %d: tox warm %.1f s" % (i + 1, s), flush=True)
        code, s = run(TFPIN + ["matrix", *only], project, env)
        times["tfpin nothing changed"].append(s)
        print("run %d: tfpin nothing changed %.1f s (exit %d)" % (i + 1, s, code), flush=True)

    code, s = run(TFPIN + ["matrix", "--no-cache", "-j", "1", *only], project, env)
    serial_verdicts = verdicts(project, ids)
    same = serial_verdicts == default_verdicts
    shutil.rmtree(loop_envs, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [("cold (no envs yet)", med["tfpin cold"], med["loop cold"], med["tox cold"]),
            ("warm envs, every cell re-run (`--no-cache`), default `-j`", med["tfpin warm"], med["loop warm"],
             med["tox warm"]),
            ("nothing changed (verdict cache)", med["tfpin nothing changed"], med["loop warm"], med["tox warm"])]
    tfpin_ok = {cid: default_verdicts[cid][0] == "passed" for cid in ids}
    agree = tfpin_ok == tox_ok
    print()
    print("%s, %d cells, median of %d runs, one invocation of benchmarks/harness_vs_loop.py (%s; floor: the "
          "CPU seconds of the suites and the readers / %d cores = %.1f s, of which the readers %.1f s):" % (
              project.name, len(ids), args.repeat, tox.version, CORES, med["floor"], med["readers"]))
    print()
    print("| run | tfpin | uv + pytest loop | tox -p auto | tfpin / loop | tfpin / tox | tfpin / floor |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for label, ours, loop_s, tox_s in rows:
        print("| %s | %.1f s | %.1f s | %.1f s | %.2fx | %.2fx | %.2fx |" % (
            label, ours, loop_s, tox_s, ours / loop_s, ours / tox_s, ours / med["floor"]))
    print()
    print("verdicts, tfpin against tox: %s" % ("the same in every cell" if agree else "DIFFER: tfpin %s, tox %s" % (
        tfpin_ok, tox_ok)))
    print("tfpin warm -j 1: %.1f s; verdicts %s the default -j run's" % (s, "identical to" if same else "DIFFER from"))
    data = {"project": str(project), "cells": ids, "repeat": args.repeat, "first_full_run_s": first_s,
            "seconds": times, "median": med,
            "ratios": {label: {"loop": ours / loop_s, "tox": ours / tox_s, "floor": ours / med["floor"]}
                       for label, ours, loop_s, tox_s in rows}, "serial_s": s, "tox": tox.version,
            "tox_verdicts": tox_ok, "tox_agrees": agree,
            "verdicts": default_verdicts, "serial_verdicts": serial_verdicts, "verdicts_identical": same,
            "loop_pytest_exit_codes": loop_codes}
    out = Path(args.json) if args.json else project / "reports" / "bench-harness-vs-loop.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    print("json: %s" % out)
    return 0 if same and agree else 1


def cpu_s(project: Path, cid: str) -> float:
    return json.loads((project / "reports" / "cells" / (cid + ".json")).read_text())["durations"]["tests_cpu_s"]


def readers_cpu_s(project: Path) -> float:
    """The readers' CPU seconds of the run just made: it names its cells (--cells), so its report is the partial
    one (matrix-partial.json); matrix.json is the first full run's."""
    cross = json.loads((project / "reports" / "matrix-partial.json").read_text()).get("cross") or {}
    return sum((cross.get("readers_cpu_s") or {}).values())


if __name__ == "__main__":
    sys.exit(main())
