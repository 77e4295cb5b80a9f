"""Where one traced training step spends its time, by op type: `python benchmarks/trace_summary.py A.json [B.json]`.

Reads Chrome traces written by TensorFlow's timeline (`resnet_core.bench --trace FILE`, tf_cnn_benchmarks
`--trace_file FILE`) and prints, per op type, the summed kernel time (ms) and count, plus the step's wall
span.  With two traces the columns sit side by side (e.g. ours vs the anchor in one cell env).  Summed
kernel time exceeds the wall span when ops overlap (inter-op parallelism).
"""
import argparse
import collections
import json
import sys


def summarize(path):
    with open(path) as f:
        events = json.load(f)["traceEvents"]
    # TF 1.15 also writes a "/host:CPU Compute" stream whose events repeat the device's with op "unknown".
    host = set(e["pid"] for e in events if e.get("ph") == "M" and e.get("name") == "process_name"
               and e["args"]["name"].startswith("/host:"))
    ops = [e for e in events if e.get("ph") == "X" and "op" in e.get("args", {}) and e["pid"] not in host]
    by_type = collections.defaultdict(lambda: [0.0, 0])
    for e in ops:
        row = by_type[e["args"]["op"]]
        row[0] += e["dur"] / 1000.0
        row[1] += 1
    start = min(e["ts"] for e in ops)
    end = max(e["ts"] + e["dur"] for e in ops)
    return dict(by_type), (end - start) / 1000.0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("traces", nargs="+")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args(argv)
    tables = [summarize(t) for t in args.traces]
    total = collections.Counter()
    for by_type, _ in tables:
        for op, (ms, _) in by_type.items():
            total[op] = max(total[op], ms)
    head = "%-34s" % "op type" + "".join("%22s" % ("[%d] ms (count)" % i) for i in range(len(tables)))
    print(head)
    for op, _ in total.most_common(args.top):
        cells = []
        for by_type, _ in tables:
            ms, n = by_type.get(op, (0.0, 0))
            cells.append("%22s" % ("%.1f (%d)" % (ms, n)))
        print("%-34s" % op + "".join(cells))
    print("%-34s" % "sum of kernel time" + "".join("%22.1f" % sum(v[0] for v in t[0].values()) for t in tables))
    print("%-34s" % "step wall span" + "".join("%22.1f" % span for _, span in tables))
    for i, t in enumerate(args.traces):
        print("[%d] %s" % (i, t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
