"""resnet_core.bench against the TF team's tf_cnn_benchmarks, side by side in each cell's own environment.

    .venv/bin/python benchmarks/vs_tf_cnn_benchmarks.py CHECKOUT [--cells table,distributions,ID,...]

CHECKOUT is a git clone (bare is fine) of https://github.com/tensorflow/benchmarks.  For every cell the
anchor is tf_cnn_benchmarks from that release's branch (`cnn_tf_v1.<minor>_compatible`), exported with
`git archive` into a temporary directory (never into this repository), and run with the cell's own Python:

    tf_cnn_benchmarks.py --model=resnet20 --data_name=cifar10 --device=cpu --data_format=NHWC
        --optimizer=momentum --batch_size=64 --num_warmup_batches=W --num_batches=N [--mkl=True]

(no --data_dir: synthetic images kept in a local variable, so input is free; --mkl=True on builds whose
TensorFlow says IsMklEnabled(), as Intel documents for its wheels).  Ours is `python -m resnet_core.bench`
in the same environment: the same ResNet-20, 32x32x3, batch 64, NHWC, CPU, momentum, synthetic data.
Both use their own defaults for everything else, in particular threads: the anchor leaves intra- and
inter-op threads to TensorFlow (0 = one per core each) and, with --mkl=True, sets KMP_BLOCKTIME=0,
KMP_AFFINITY=granularity=fine,verbose,compact,1,0, KMP_SETTINGS=1 and unsets OMP_NUM_THREADS; ours uses
what resnet_core.bench chooses (its JSON is kept per run, "settings" in the output).

The runs alternate (ours, anchor, ours, anchor, ...) so that both see the same machine load, and each
side's result is the median of its runs.  A run's rate is images / seconds over all its timed steps
after warm-up, for both (the anchor's "total images/sec"; ours: the harmonic mean of its equal-length
windows, i.e. total images over total time, not the median window bench prints).

Writes a table to stdout and JSON to --json (default reports/vs-anchor.json).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ANCHOR_DIR = "scripts/tf_cnn_benchmarks"
ANCHOR_RATE = re.compile(r"^total images/sec:\s*([0-9.]+)\s*$", re.M)
BATCH = 64
PROBE = (
    "import json, tensorflow as tf\n"
    "from tensorflow.python.framework import test_util\n"
    "print(json.dumps({'tensorflow': tf.__version__, 'mkl': bool(test_util.IsMklEnabled())}))\n"
)


def matrix_cells(name):
    """Cell ids of a built-in matrix (or matrix file), through tfpin's own `list`."""
    out = subprocess.run([sys.executable, "-m", "tfpin", "list", "--json", "--matrix", name], cwd=REPO,
                         check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout
    return [c["id"] for c in json.loads(out)]


def select_cells(spec, envs, extra_pythons):
    """(cell id, python) pairs for a comma-separated mix of matrix names (their cells whose env exists) and cell ids
    (py...; an id without an env is an error)."""
    chosen, seen = [], set()
    for token in [t.strip() for t in spec.split(",") if t.strip()]:
        explicit = token.startswith("py")
        for cell in [token] if explicit else matrix_cells(token):
            if cell in seen:
                continue
            python = extra_pythons.get(cell) or envs / cell / "bin" / "python"
            if Path(python).exists():
                chosen.append((cell, str(python)))
                seen.add(cell)
            elif explicit:
                raise SystemExit("no environment for cell %s (%s); build it with `tfpin cell %s` or pass --python "
                                 "%s=PATH" % (cell, python, cell, cell))
            else:
                print("skipping %s: no environment at %s" % (cell, python), file=sys.stderr)
    return chosen


def anchor_branch(checkout, version):
    """The branch of tensorflow/benchmarks made for this TF release, as a ref `git archive` accepts."""
    major, minor = version.split(".")[:2]
    name = "cnn_tf_v%s.%s_compatible" % (major, minor)
    for ref in ("refs/heads/" + name, "refs/remotes/origin/" + name):
        if subprocess.run(["git", "-C", checkout, "rev-parse", "--verify", "-q", ref],
                          stdout=subprocess.DEVNULL).returncode == 0:
            commit = subprocess.run(["git", "-C", checkout, "rev-parse", ref], check=True, stdout=subprocess.PIPE,
                                    universal_newlines=True).stdout.strip()
            return ref, commit
    raise SystemExit("%s has no branch %s (git -C %s branch -a): cannot pick the anchor for TF %s"
                     % (checkout, name, checkout, version))


def export_anchor(checkout, ref, into):
    """`git archive REF scripts/tf_cnn_benchmarks | tar -x` into a temporary directory; its script dir."""
    archive = subprocess.Popen(["git", "-C", checkout, "archive", ref, ANCHOR_DIR], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", into], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise SystemExit("git archive %s %s failed" % (ref, ANCHOR_DIR))
    return os.path.join(into, ANCHOR_DIR)


def clean_env(extra=None):
    """The cell's own world: no host Python/TF variables leak in (as tfpin does for the cell suite)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "TF_", "KERAS_", "KMP_", "OMP_")) and k != "VIRTUAL_ENV"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update(extra or {})
    return env


def run(cmd, cwd, env, timeout):
    start = time.time()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout)
    return proc, time.time() - start


def run_anchor(python, script_dir, steps, warmup, mkl, timeout):
    cmd = [python, "tf_cnn_benchmarks.py", "--model=resnet20", "--data_name=cifar10", "--device=cpu",
           "--data_format=NHWC", "--optimizer=momentum", "--batch_size=%d" % BATCH,
           "--num_warmup_batches=%d" % warmup, "--num_batches=%d" % steps]
    if mkl:
        cmd.append("--mkl=True")
    proc, seconds = run(cmd, script_dir, clean_env(), timeout)
    found = ANCHOR_RATE.findall(proc.stdout)
    if proc.returncode != 0 or not found:
        raise RuntimeError("anchor failed (exit %d): %s" % (proc.returncode, (proc.stderr or proc.stdout)[-2000:]))
    return {"images_per_sec": float(found[-1]), "seconds": round(seconds, 1), "loadavg": os.getloadavg()[0]}, cmd


def run_ours(python, steps, warmup, window_steps, extra_args, timeout):
    windows = max(steps // window_steps, 1)
    cmd = [python, "-m", "resnet_core.bench", "--json", "--log-level", "2", "--warmup", str(warmup),
           "--windows", str(windows), "--window-steps", str(window_steps)] + list(extra_args)
    proc, seconds = run(cmd, str(REPO), clean_env({"PYTHONPATH": str(REPO)}), timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError("resnet_core.bench failed (exit %d): %s" % (proc.returncode, proc.stderr[-2000:]))
    result = json.loads(lines[-1])
    rates = result["windows"]
    overall = len(rates) / sum(1.0 / r for r in rates)  # equal windows: total images / total seconds
    return {"images_per_sec": overall, "median_window": result["images_per_sec"], "seconds": round(seconds, 1),
            "loadavg": os.getloadavg()[0], "bench": result}, cmd


def measure_cell(cell, python, checkout, workdir, args, anchors):
    probe = subprocess.run([python, "-c", PROBE], env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
    if probe.returncode != 0:
        raise RuntimeError("%s: cannot import tensorflow: %s" % (cell, probe.stderr[-1000:]))
    info = json.loads(probe.stdout.strip().splitlines()[-1])
    ref, commit = anchor_branch(checkout, info["tensorflow"])
    if ref not in anchors:
        anchors[ref] = export_anchor(checkout, ref, tempfile.mkdtemp(prefix="anchor-", dir=workdir))
    steps = args.steps * (args.mkl_factor if info["mkl"] else 1)
    ours, anchor = [], []
    for i in range(args.runs):
        o, ours_cmd = run_ours(python, steps, args.warmup, args.window_steps, args.ours_args, args.timeout)
        ours.append(o)
        a, anchor_cmd = run_anchor(python, anchors[ref], steps, args.warmup, info["mkl"], args.timeout)
        anchor.append(a)
        print("  %s run %d: ours %.1f img/s, anchor %.1f img/s (load %.1f)"
              % (cell, i + 1, o["images_per_sec"], a["images_per_sec"], a["loadavg"]), file=sys.stderr, flush=True)
    ours_median = statistics.median(r["images_per_sec"] for r in ours)
    anchor_median = statistics.median(r["images_per_sec"] for r in anchor)
    last = ours[-1]["bench"]
    return {
        "cell": cell, "python": python, "tensorflow": info["tensorflow"], "mkl": info["mkl"],
        "anchor_ref": ref, "anchor_commit": commit, "steps": steps, "warmup": args.warmup,
        "ours_images_per_sec": round(ours_median, 1), "anchor_images_per_sec": round(anchor_median, 1),
        "ratio": round(ours_median / anchor_median, 3),
        "ours_runs": [round(r["images_per_sec"], 1) for r in ours],
        "anchor_runs": [r["images_per_sec"] for r in anchor],
        "settings": {
            "ours": dict({k: last.get(k) for k in ("conv_backprop", "gradients", "bn")},
                         intra_op_threads=last.get("threads") or "TF default (0)",
                         inter_op_threads=last.get("inter_threads") or "TF default (0)",
                         env="none (MKL: OpenMP defaults)" if info["mkl"] else "none"),
            "anchor": {"intra_op_threads": "TF default (0)", "inter_op_threads": "TF default (0)",
                       "env": ("KMP_BLOCKTIME=0 KMP_AFFINITY=granularity=fine,verbose,compact,1,0 KMP_SETTINGS=1, "
                               "OMP_NUM_THREADS unset (--mkl=True)") if info["mkl"] else "none"},
        },
        "commands": {"ours": " ".join(ours_cmd[1:]), "anchor": " ".join(anchor_cmd[1:])},
        "runs": {"ours": ours, "anchor": anchor},
    }


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkout", help="a git clone (bare is fine) of tensorflow/benchmarks")
    p.add_argument("--cells", default="table",
                   help="comma-separated matrix names (table, distributions, full: their cells whose env exists) "
                        "and/or cell ids (default: table)")
    p.add_argument("--python", action="append", default=[], metavar="CELL=PATH",
                   help="the python of an environment outside .tfpin/envs for this cell (e.g. a throwaway one)")
    p.add_argument("--envs", default=str(REPO / ".tfpin" / "envs"))
    p.add_argument("--runs", type=int, default=3, help="runs per side, alternating (default 3)")
    p.add_argument("--steps", type=int, default=100, help="timed steps per run (default 100)")
    p.add_argument("--mkl-factor", type=int, default=3, help="MKL builds run this many times more steps (default 3)")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps per run, both sides (default 10)")
    p.add_argument("--window-steps", type=int, default=10, help="ours: steps per timed window")
    p.add_argument("--ours-args", default="", help="extra arguments for resnet_core.bench (one string)")
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--json", default=str(REPO / "reports" / "vs-anchor.json"),
                   help="the JSON file (default reports/vs-anchor.json; reports/bench/ holds tfpin bench's cells)")
    args = p.parse_args(argv)
    args.ours_args = args.ours_args.split()
    return args


def main(argv=None):
    args = parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.python)
    cells = select_cells(args.cells, Path(args.envs), extra)
    if not cells:
        raise SystemExit("no cell to measure (no environment exists for %s)" % args.cells)
    results, anchors = [], {}
    with tempfile.TemporaryDirectory(prefix="vs-anchor-") as workdir:
        for cell, python in cells:
            print("%s: %s" % (cell, python), file=sys.stderr, flush=True)
            results.append(measure_cell(cell, python, args.checkout, workdir, args, anchors))
    print("%-32s %10s %10s %7s  %s" % ("cell", "ours", "anchor", "ratio", "ours: conv-gradient kernels + formulations"))
    for r in results:
        s = r["settings"]["ours"]
        print("%-32s %10.1f %10.1f %6.2fx  %s + %s" % (
            r["cell"] + (" (mkl)" if r["mkl"] else ""), r["ours_images_per_sec"], r["anchor_images_per_sec"],
            r["ratio"], s.get("conv_backprop"), ", ".join(s.get("gradients") or []) or "TF's own"))
    command = [".venv/bin/python", "benchmarks/vs_tf_cnn_benchmarks.py"] + list(sys.argv[1:] if argv is None else argv)
    out = {"command": " ".join(command),
           "checkout": args.checkout, "batch_size": BATCH, "model": "resnet20", "runs": args.runs,
           "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "cells": results}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print("wrote %s" % args.json, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
