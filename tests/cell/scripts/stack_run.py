"""A short run of the whole training stack in a fresh process (for test_deprecations.py).

train() for each model API (graph, keras, tf.keras): digits, 2 towers, BN updates, L2 decay,
clipping, weight + loss EMA, streaming accuracy,
checkpoint and EMA evaluation in a fresh graph; then the bench's own pieces (cached input,
traced step, conv-kernel check).  TF's notices go to stderr; stdout gets one JSON line.
Run as a FILE: TF 1.14/1.15 hide name notices for '<string>' frames.
"""
import json
import os
import shutil
import tempfile

from resnet_core import bench
from resnet_core.train import available_apis, config_from, train

APIS = available_apis()  # graph, keras, tf.keras where the cell has them (compat: no standalone Keras on TF 2.x)


def positive_control():
    """Deprecated on every TF 1.12-2.21, called on purpose from this (our) file, last: the test must find
    exactly this notice, so a capture that sees nothing cannot pass.  tf.Print's notice names the calling file on
    every release measured; softmax_cross_entropy_with_logits' (the control before) names TF's dispatch.py from 2.11."""
    from compat import tf1

    with tf1.Graph().as_default():
        logits = tf1.placeholder(tf1.float32, [2, 3])
        tf1.Print(logits, [logits])


if __name__ == "__main__":
    results = [train(config_from(dataset="digits", model="resnet8", api=api, towers=2, steps=2, batch_size=8,
                                 threads=1)) for api in APIS]
    tmp = tempfile.mkdtemp(prefix="stack_run_")
    try:
        trace = os.path.join(tmp, "trace.json")
        bench.run(bench.parse_args(["--batch-size", "4", "--image-size", "8", "--warmup", "0", "--windows", "1",
                                    "--window-steps", "1", "--conv-backprop", "default", "--trace", trace]))
        trace_bytes = os.path.getsize(trace)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    bench.check_conv_backprop("eigen")
    positive_control()
    print(json.dumps({"finite": [r["finite"] for r in results], "apis": [r["api"] for r in results],
                      "trace_bytes": trace_bytes}))
