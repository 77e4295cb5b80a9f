"""python -m resnet_core.bench: training throughput (images/sec) of the tower stack on CPU.

Measures what tf_cnn_benchmarks measures for its synthetic-data runs: forward, backward and the
momentum update (plus BN updates and L2 decay) on one synthetic batch repeated from a cached
tf.data pipeline, so the input costs nothing per step.  Weight EMA, the streaming accuracy and
global-norm clipping are off by default (they are bookkeeping, not the model) and can be
switched on to price them.  After warm-up steps (graph optimisation, allocator growth) several
timed windows are run and the median window is the result: the machine is shared and noisy.
"""
import argparse
import json
import sys
import time

from resnet_core.train import MODEL_BUILDERS, log_level_parser, make_model_fn

# CPU kernels registered for the conv gradients: TF's default ("custom", im2col-style) ones or the
# Eigen tensor-contraction ones, chosen per graph through kernel labels.  Which is faster depends
# on the TF build (measured: Eigen is faster on 1.15, slower on 1.12), hence a switch, not a rule.
CONV_BACKPROP_KERNELS = {
    "default": {},
    "eigen": {"Conv2DBackpropFilter": "eigen_tensor", "Conv2DBackpropInput": "eigen_tensor"},
}


def build_parser():
    from resnet_core.arch import model_names
    from resnet_core.batchnorm import IMPLEMENTATIONS

    p = argparse.ArgumentParser(prog="python -m resnet_core.bench", parents=[log_level_parser()],
                                description="Training throughput of a ResNet on synthetic data.")
    p.add_argument("--api", choices=sorted(MODEL_BUILDERS), default="graph")
    p.add_argument("--model", choices=model_names(), default="resnet20")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--towers", type=int, default=1)
    p.add_argument("--bn", choices=tuple(IMPLEMENTATIONS), default="layers")
    p.add_argument("--data-format", choices=("NHWC", "NCHW"), default="NHWC")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: TF's choice)")
    p.add_argument("--inter-threads", type=int, default=None, help="inter-op threads (default: TF's choice)")
    p.add_argument("--conv-backprop", choices=sorted(CONV_BACKPROP_KERNELS), default="default",
                   help="CPU kernels for the conv gradients (see CONV_BACKPROP_KERNELS)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps")
    p.add_argument("--windows", type=int, default=5, help="timed windows; the median is reported")
    p.add_argument("--window-steps", type=int, default=10, help="steps per timed window")
    p.add_argument("--ema-decay", type=float, default=0.0, help="weight EMA (0 = off)")
    p.add_argument("--clip-norm", type=float, default=0.0, help="global-norm clip (0 = off)")
    p.add_argument("--weight-decay", type=float, default=2e-4)
    p.add_argument("--metrics", action="store_true", help="also run the streaming accuracy")
    p.add_argument("--trace", default=None, help="write a Chrome trace (timeline JSON) of one step here")
    p.add_argument("--json", action="store_true")
    return p


def parse_args(argv=None):
    early, _ = log_level_parser().parse_known_args(argv)
    if early.log_level is not None:
        from compat.logs import set_log_level

        set_log_level(early.log_level)
    parser = build_parser()
    args = parser.parse_args(argv)
    positive = ("image_size", "batch_size", "towers", "windows", "window_steps")
    for name in positive:
        if getattr(args, name) < 1:
            parser.error("--%s must be >= 1, got %d" % (name.replace("_", "-"), getattr(args, name)))
    if args.warmup < 0:
        parser.error("--warmup must be >= 0, got %d" % args.warmup)
    if args.batch_size % args.towers:
        parser.error("--batch-size %d is not divisible by --towers %d" % (args.batch_size, args.towers))
    for name in ("threads", "inter_threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error("--%s must be >= 1" % name.replace("_", "-"))
    return args


def _session_config(args, cpu_devices):
    from compat import session_config

    config = session_config(threads=args.threads, cpu_devices=cpu_devices)
    if args.inter_threads is not None:
        config.inter_op_parallelism_threads = args.inter_threads
    return config


def run(args):
    """Build, warm up, time; returns the result dict."""
    import numpy as np

    import compat
    from compat import tf1
    from resnet_core import data
    from resnet_core.arch import resnet_arch
    from resnet_core.training import build_training, initialize

    arch = resnet_arch(args.model)
    shape = (args.image_size, args.image_size, 3)
    devices = compat.tower_devices(args.towers)
    cpu_devices = args.towers if any("cpu" in d.lower() for d in devices) else None
    graph = tf1.Graph()
    # Graph._kernel_label_map is private but unchanged 1.12-1.15; it only picks registered kernels.
    with graph.as_default(), graph._kernel_label_map(CONV_BACKPROP_KERNELS[args.conv_backprop]):
        tf1.set_random_seed(0)
        dataset = data.cached_batch_input(args.batch_size, shape, arch.num_classes)
        images, labels = compat.make_one_shot_iterator(dataset).get_next()
        model_fn = make_model_fn(args.api, arch, args.bn, args.data_format)
        tg = build_training(images, labels, model_fn, devices, learning_rate=0.01, weight_decay=args.weight_decay,
                            clip_norm=args.clip_norm or None, ema_decay=args.ema_decay or None,
                            loss_ema_decay=None, metrics=args.metrics)
        fetches = [tg.train_op] + ([tg.accuracy_update] if args.metrics else [])
        with tf1.Session(graph=graph, config=_session_config(args, cpu_devices)) as sess:
            initialize(sess)
            for _ in range(args.warmup):
                sess.run(fetches)
            if args.trace:
                _write_trace(sess, fetches, args.trace)
            windows = []
            for _ in range(args.windows):
                start = time.time()
                for _ in range(args.window_steps):
                    sess.run(fetches)
                windows.append(args.window_steps * args.batch_size / (time.time() - start))
            loss = float(sess.run(tg.mean_loss))
    result = {
        "model": args.model, "api": args.api, "batch_size": args.batch_size, "image_size": args.image_size,
        "towers": args.towers, "devices": list(devices), "bn": args.bn, "data_format": args.data_format,
        "conv_backprop": args.conv_backprop,
        "threads": args.threads, "inter_threads": args.inter_threads, "ema": bool(args.ema_decay),
        "clip": bool(args.clip_norm), "metrics": args.metrics, "warmup": args.warmup,
        "window_steps": args.window_steps, "windows": windows,
        "images_per_sec": float(np.median(windows)), "loss_finite": bool(np.isfinite(loss)),
    }
    result.update({k: v for k, v in compat.describe().items() if k in ("tensorflow", "keras", "python")})
    return result


def _write_trace(sess, fetches, path):
    """One fully traced step as a Chrome trace, to see where the time goes."""
    from compat import tf1
    from tensorflow.python.client import timeline

    options = tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE)
    metadata = tf1.RunMetadata()
    sess.run(fetches, options=options, run_metadata=metadata)
    with open(path, "w") as f:
        f.write(timeline.Timeline(metadata.step_stats).generate_chrome_trace_format())


def main(argv=None):
    args = parse_args(argv)
    result = run(args)
    if args.json:
        sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    else:
        sys.stdout.write("%s batch %d x%d tower(s): %.1f img/s (median of %s)\n" % (
            result["model"], result["batch_size"], result["towers"], result["images_per_sec"],
            ", ".join("%.1f" % w for w in result["windows"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
